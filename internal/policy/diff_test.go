package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func pRoute(host string, mod ...func(*Route)) Route {
	r := Route{Host: host, DLP: DLP{Outbound: []string{"token_patterns"}, Inbound: []string{}, OnMatch: "supervise"}}
	for _, m := range mod {
		m(&r)
	}
	return r
}

func withRoutes(rs ...Route) *Policy { return &Policy{Version: Version, Bottle: "b", Routes: rs} }

func pRepo(name string, mod ...func(*Repo)) Repo {
	r := Repo{Name: name, URL: "ssh://git@git.example.com/acme/" + name + ".git", Key: RepoKey{Provider: "static", Slot: "GIT_KEY_0"}, ProtectedPaths: []string{".github/**"}}
	for _, m := range mod {
		m(&r)
	}
	return r
}

func withRepos(rs ...Repo) *Policy {
	return &Policy{Version: Version, Bottle: "b", Routes: []Route{}, GitGate: &GitGate{Repos: rs}}
}

func TestDiff(t *testing.T) {
	get := []Match{{Methods: []string{"GET"}, Paths: []PathMatch{{Type: "prefix", Value: "/v1"}}}}
	tokened := &Policy{
		Version: Version, Bottle: "b",
		Routes: []Route{pRoute("api.example.com", func(r *Route) { r.Auth = &Auth{Scheme: "Bearer", Slot: "EGRESS_TOKEN_0"} })},
		Tokens: []TokenSlot{{Slot: "EGRESS_TOKEN_0", Env: "API_TOKEN", Hosts: []string{"api.example.com"}}},
	}
	// The same credential under another slot number is no change.
	renumbered := &Policy{
		Version: Version, Bottle: "b",
		Routes: []Route{
			pRoute("pypi.org"),
			pRoute("api.example.com", func(r *Route) { r.Auth = &Auth{Scheme: "Bearer", Slot: "EGRESS_TOKEN_1"} }),
		},
		Tokens: []TokenSlot{{Slot: "EGRESS_TOKEN_1", Env: "API_TOKEN", Hosts: []string{"api.example.com"}}},
	}
	otherToken := &Policy{
		Version: Version, Bottle: "b",
		Routes: []Route{pRoute("api.example.com", func(r *Route) { r.Auth = &Auth{Scheme: "token", Slot: "EGRESS_TOKEN_0"} })},
		Tokens: []TokenSlot{{Slot: "EGRESS_TOKEN_0", Env: "OTHER_TOKEN", Hosts: []string{"api.example.com"}}},
	}
	tests := []struct {
		name     string
		old, new *Policy
		want     Changes
	}{
		{"same", withRoutes(pRoute("a.example")), withRoutes(pRoute("a.example")), nil},
		{"nil-is-empty", nil, &Policy{}, nil},
		{
			"host-added", withRoutes(), withRoutes(pRoute("a.example")),
			Changes{
				{Grant, "egress a.example: any request"},
				{Grant, "egress a.example: outbound scan token_patterns, inbound scan none, on a match supervise"},
			},
		},
		{
			"host-removed", withRoutes(pRoute("a.example", func(r *Route) { r.Matches = get; r.GitFetch = true })), withRoutes(),
			Changes{
				{Revoke, `egress a.example: GET prefix "/v1"`},
				{Revoke, "egress a.example: git fetch"},
			},
		},
		{
			"matches-widened", withRoutes(pRoute("a.example", func(r *Route) { r.Matches = get })), withRoutes(pRoute("a.example")),
			Changes{
				{Revoke, `egress a.example: GET prefix "/v1"`},
				{Grant, "egress a.example: any request"},
			},
		},
		{
			"matches-narrowed", withRoutes(pRoute("a.example")),
			withRoutes(pRoute("a.example", func(r *Route) {
				r.Matches = []Match{{Methods: []string{"POST"}, Paths: []PathMatch{{Type: "exact", Value: "/q"}, {Type: "regex", Value: "/r/[0-9]+"}}, Headers: []HeaderMatch{{Name: "Content-Type", Type: "exact", Value: "application/json"}}}}
			})),
			Changes{
				{Revoke, "egress a.example: any request"},
				{Grant, `egress a.example: POST exact "/q" or regex "/r/[0-9]+" with header Content-Type exact "application/json"`},
			},
		},
		{"auth-renumbered", tokened, renumbered, Changes{
			{Grant, "egress pypi.org: any request"},
			{Grant, "egress pypi.org: outbound scan token_patterns, inbound scan none, on a match supervise"},
		}},
		{"auth-added", withRoutes(pRoute("api.example.com")), tokened, Changes{{Grant, "egress api.example.com: injects $API_TOKEN as Bearer"}}},
		{"auth-removed", tokened, withRoutes(pRoute("api.example.com")), Changes{{Revoke, "egress api.example.com: injects $API_TOKEN as Bearer"}}},
		{"auth-changed", tokened, otherToken, Changes{
			{Revoke, "egress api.example.com: injects $API_TOKEN as Bearer"},
			{Grant, "egress api.example.com: injects $OTHER_TOKEN as token"},
		}},
		{
			"dlp-loosened",
			withRoutes(pRoute("a.example", func(r *Route) { r.DLP.Inbound = []string{"naive_injection_detection"}; r.DLP.OnMatch = "block" })),
			withRoutes(pRoute("a.example", func(r *Route) { r.DLP.Outbound = []string{}; r.DLP.OnMatch = "redact" })),
			Changes{
				{Grant, "egress a.example: outbound scan token_patterns"},
				{Grant, "egress a.example: inbound scan naive_injection_detection"},
				{Grant, "egress a.example: on a DLP match, redact instead of block"},
			},
		},
		{
			"dlp-tightened",
			withRoutes(pRoute("a.example", func(r *Route) { r.DLP.OnMatch = "redact" })),
			withRoutes(pRoute("a.example", func(r *Route) { r.DLP.Outbound = []string{"token_patterns", "entropy"}; r.DLP.OnMatch = "supervise" })),
			Changes{
				{Revoke, "egress a.example: outbound scan entropy"},
				{Revoke, "egress a.example: on a DLP match, supervise instead of redact"},
			},
		},
		{"role", withRoutes(pRoute("a.example")), withRoutes(pRoute("a.example", func(r *Route) { r.Role = "claude_code_oauth" })), Changes{{Grant, "egress a.example: role claude_code_oauth"}}},
		{"log", &Policy{Log: 2}, &Policy{Log: 0}, Changes{{Other, "egress log: off instead of everything"}}},
		{
			"repo-added", withRoutes(), withRepos(pRepo("app", func(r *Repo) { r.Branches = []string{"bot-*"}; r.MaxPushBytes = 1024 })),
			Changes{
				{Grant, "git repo app: ssh://git@git.example.com/acme/app.git, key from static"},
				{Grant, "git repo app: push to branch bot-*"},
				{Grant, `git repo app: protected paths [".github/**"], max push 1024 bytes`},
			},
		},
		{"repo-removed", withRepos(pRepo("app")), withRepos(), Changes{{Revoke, "git repo app: ssh://git@git.example.com/acme/app.git"}}},
		{
			"repo-url", withRepos(pRepo("app")), withRepos(pRepo("app", func(r *Repo) { r.URL = "ssh://git@evil.example/app.git" })),
			Changes{
				{Revoke, "git repo app: ssh://git@git.example.com/acme/app.git"},
				{Grant, "git repo app: ssh://git@evil.example/app.git"},
			},
		},
		{
			"branches-widened", withRepos(pRepo("app", func(r *Repo) { r.Branches = []string{"bot-*"} })), withRepos(pRepo("app")),
			Changes{
				{Revoke, "git repo app: push to branch bot-*"},
				{Grant, "git repo app: push to every branch but the default"},
			},
		},
		{"branches-none", withRepos(pRepo("app")), withRepos(pRepo("app", func(r *Repo) { r.Branches = []string{} })), Changes{{Revoke, "git repo app: push to every branch but the default"}}},
		{
			"protected-paths", withRepos(pRepo("app")), withRepos(pRepo("app", func(r *Repo) { r.ProtectedPaths = []string{"Makefile"} })),
			Changes{
				{Grant, "git repo app: protected path .github/**"},
				{Revoke, "git repo app: protected path Makefile"},
			},
		},
		{"max-push-unlimited", withRepos(pRepo("app", func(r *Repo) { r.MaxPushBytes = 10 })), withRepos(pRepo("app")), Changes{{Grant, "git repo app: max push unlimited instead of 10 bytes"}}},
		{"max-push-raised", withRepos(pRepo("app", func(r *Repo) { r.MaxPushBytes = 10 })), withRepos(pRepo("app", func(r *Repo) { r.MaxPushBytes = 20 })), Changes{{Grant, "git repo app: max push 20 bytes instead of 10 bytes"}}},
		{"max-push-capped", withRepos(pRepo("app")), withRepos(pRepo("app", func(r *Repo) { r.MaxPushBytes = 10 })), Changes{{Revoke, "git repo app: max push 10 bytes instead of unlimited"}}},
		{"max-push-lowered", withRepos(pRepo("app", func(r *Repo) { r.MaxPushBytes = 20 })), withRepos(pRepo("app", func(r *Repo) { r.MaxPushBytes = 10 })), Changes{{Revoke, "git repo app: max push 10 bytes instead of 20 bytes"}}},
		{
			"host-key-pinned", withRepos(pRepo("app")),
			withRepos(pRepo("app", func(r *Repo) {
				r.HostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
			})),
			Changes{{Grant, "git repo app: pushes forwarded to the upstream, host key ssh-ed25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"}},
		},
		{"key-provider", withRepos(pRepo("app")), withRepos(pRepo("app", func(r *Repo) { r.Key.Provider = "gitea" })), Changes{{Other, "git repo app: key from gitea instead of static"}}},
		{
			"git-user", withRepos(), &Policy{GitGate: &GitGate{User: &GitUser{Name: "Bot", Email: "bot@example.com"}}},
			Changes{{Other, `git user: "Bot" <bot@example.com> instead of none`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.old, tt.new)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Diff mismatch (-want +got):\n%s", d)
			}
		})
	}
}

// TestDiffGolden diffs pairs of the compile goldens and checks the
// printed form, which is what an operator reads before saying yes.
func TestDiffGolden(t *testing.T) {
	pairs := []struct{ name, old, new string }{
		{"single-to-matches", "single-route", "matches-regex"},
		{"shared-to-oauth", "shared-token", "claude-oauth"},
		{"git-repos-to-user-only", "git-repos", "git-user-only"},
		{"user-only-to-git-repos", "git-user-only", "git-repos"},
	}
	read := func(t *testing.T, name string) *Policy {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(data)
		if err != nil {
			t.Fatalf("Parse(%s): %v", name, err)
		}
		return p
	}
	for _, pp := range pairs {
		t.Run(pp.name, func(t *testing.T) {
			got := Diff(read(t, pp.old), read(t, pp.new)).String()
			file := filepath.Join("testdata", "diff", pp.name+".txt")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("Diff(%s, %s) mismatch (-want +got):\n%s", pp.old, pp.new, d)
			}
			for line := range strings.Lines(got) {
				if !strings.HasPrefix(line, "+ ") && !strings.HasPrefix(line, "- ") && !strings.HasPrefix(line, "~ ") {
					t.Errorf("line %q does not start with a mark", line)
				}
			}
		})
	}
}
