package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

func val[T any](v T) manifest.Value[T] { return manifest.Value[T]{V: v, Set: true} }

// defaultDLP is a route's DLP as the manifest resolves it by default.
func defaultDLP() manifest.RouteDLP {
	return manifest.RouteDLP{
		Outbound: []string{"token_patterns", "known_secrets"},
		Inbound:  []string{"naive_injection_detection"},
		OnMatch:  "supervise",
	}
}

func route(host string, auth *manifest.Auth) manifest.Route {
	return manifest.Route{Host: host, Auth: auth, DLP: defaultDLP()}
}

const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

// compileCases are bottles as the manifest package resolves them. Strings
// in leak must never appear in the compiled policy.
var compileCases = []struct {
	name string
	b    manifest.Bottle
	leak []string
}{
	{
		name: "single-route",
		b: manifest.Bottle{
			Name:   "single",
			Egress: manifest.Egress{Log: val(1), Routes: []manifest.Route{route("api.example.com", nil)}},
		},
	},
	{
		name: "shared-token",
		b: manifest.Bottle{
			Name: "shared",
			Egress: manifest.Egress{Routes: []manifest.Route{
				route("pypi.org", nil),
				route("api.github.com", &manifest.Auth{Scheme: "Bearer", TokenRef: "GH_TOKEN"}),
				route("registry.npmjs.org", &manifest.Auth{Scheme: "Bearer", TokenRef: "NPM_TOKEN"}),
				route("uploads.github.com", &manifest.Auth{Scheme: "token", TokenRef: "GH_TOKEN"}),
			}},
		},
	},
	{
		name: "api-key-header",
		b: manifest.Bottle{
			Name:     "api-key",
			Provider: manifest.Provider{Template: val("claude"), AuthToken: val("CLAUDE_CODE_OAUTH_TOKEN")},
			Egress: manifest.Egress{Routes: []manifest.Route{
				{Host: "api.anthropic.com", Role: "anthropic_api_key", Auth: &manifest.Auth{Header: "X-Api-Key", TokenRef: "ANTHROPIC_API_KEY"}, DLP: defaultDLP()},
				route("example.openai.azure.com", &manifest.Auth{Header: "Api-Key", TokenRef: "AZURE_KEY"}),
				route("api.github.com", &manifest.Auth{Scheme: "Bearer", TokenRef: "ANTHROPIC_API_KEY"}),
			}},
		},
	},
	{
		name: "claude-oauth",
		b: manifest.Bottle{
			Name:     "claude",
			Provider: manifest.Provider{Template: val("claude"), AuthToken: val("CLAUDE_CODE_OAUTH_TOKEN")},
			Egress: manifest.Egress{Log: val(2), Routes: []manifest.Route{
				{Host: "api.anthropic.com", Role: "claude_code_oauth", Auth: &manifest.Auth{Scheme: "token", TokenRef: "ANTHROPIC_KEY"}, DLP: defaultDLP()},
				route("console.anthropic.com", &manifest.Auth{Scheme: "Bearer", TokenRef: "ANTHROPIC_KEY"}),
				{Host: "auth.openai.com", Role: "codex_host_auth", DLP: defaultDLP()},
			}},
		},
	},
	{
		name: "claude-oauth-no-token",
		b: manifest.Bottle{
			Name: "claude-plain",
			Egress: manifest.Egress{Routes: []manifest.Route{
				{Host: "api.anthropic.com", Role: "claude_code_oauth", DLP: defaultDLP()},
			}},
		},
	},
	{
		name: "git-repos",
		b: manifest.Bottle{
			Name: "git",
			GitGate: manifest.GitGate{
				User: manifest.GitUser{Name: val("Bot Bottle"), Email: val("bot@example.com")},
				Repos: []manifest.Repo{
					{
						Name:           "infra",
						URL:            val(manifest.RepoURL{Raw: "ssh://git@gitea.example.com:2222/ops/infra.git", User: "git", Host: "gitea.example.com", Port: 2222, Path: "/ops/infra.git"}),
						Key:            val(manifest.RepoKey{Provider: "gitea", ForgeTokenEnv: "GITEA_FORGE_TOKEN", APIURL: "https://gitea.example.com/api/v1"}),
						HostKey:        val(hostKey),
						ProtectedPaths: val([]string{}),
					},
					{
						Name:         "app",
						URL:          val(manifest.RepoURL{Raw: "ssh://git@github.com/acme/app.git", User: "git", Host: "github.com", Port: 22, Path: "/acme/app.git"}),
						Key:          val(manifest.RepoKey{Provider: "static", Path: "/home/me/.ssh/id_app_deploy"}),
						HostKey:      val(hostKey),
						Branches:     val([]string{"feature/**", "bot-*"}),
						MaxPushBytes: val(int64(10 << 20)),
					},
					{
						Name:     "docs",
						URL:      val(manifest.RepoURL{Raw: "ssh://git@10.0.0.7/acme/docs.git", User: "git", Host: "10.0.0.7", Port: 22, Path: "/acme/docs.git"}),
						Key:      val(manifest.RepoKey{Provider: "static", Path: "/home/me/.ssh/id_docs"}),
						Branches: val([]string{}),
					},
				},
			},
		},
		leak: []string{"id_app_deploy", "id_docs", ".ssh", "GITEA_FORGE_TOKEN", "api/v1"},
	},
	{
		name: "git-user-only",
		b: manifest.Bottle{
			Name:    "git-user",
			GitGate: manifest.GitGate{User: manifest.GitUser{Email: val("bot@example.com")}},
		},
	},
	{
		name: "dlp-off",
		b: manifest.Bottle{
			Name: "dlp",
			Egress: manifest.Egress{Routes: []manifest.Route{
				{Host: "internal.example.com", DLP: manifest.RouteDLP{Outbound: []string{}, Inbound: []string{}, OnMatch: "supervise"}},
				{Host: "paste.example.com", DLP: manifest.RouteDLP{Outbound: []string{"entropy", "token_patterns"}, Inbound: []string{}, OnMatch: "block"}},
			}},
		},
	},
	{
		name: "matches-regex",
		b: manifest.Bottle{
			Name: "matches",
			Egress: manifest.Egress{Routes: []manifest.Route{
				{
					Host:     "api.github.com",
					Auth:     &manifest.Auth{Scheme: "Bearer", TokenRef: "GH_TOKEN"},
					GitFetch: true,
					DLP:      defaultDLP(),
					Matches: []manifest.Match{
						{
							Paths:   []manifest.PathMatch{{Type: "regex", Value: `/repos/acme/[^/]+/(pulls|issues)(/[0-9]+)?`}, {Type: "prefix", Value: "/user"}},
							Methods: []string{"GET", "HEAD"},
						},
						{
							Paths:   []manifest.PathMatch{{Type: "exact", Value: "/graphql"}},
							Methods: []string{"POST"},
							Headers: []manifest.HeaderMatch{
								{Name: "Content-Type", Value: "application/json", Type: "exact"},
								{Name: "X-Github-Api-Version", Value: `2022-11-28|2026-[0-9]{2}-[0-9]{2}`, Type: "regex"},
							},
						},
					},
				},
			}},
		},
	},
}

func TestCompileGolden(t *testing.T) {
	for _, tt := range compileCases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(&tt.b)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatalf("json.MarshalIndent: %v", err)
			}
			got = append(got, '\n')
			for _, s := range tt.leak {
				if bytes.Contains(got, []byte(s)) {
					t.Errorf("compiled policy holds %q:\n%s", s, got)
				}
			}
			file := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("Compile(%s) mismatch (-want +got):\n%s", tt.name, d)
			}
		})
	}
}

// TestRoundTrip checks Compile → Marshal → Parse → Marshal is stable.
func TestRoundTrip(t *testing.T) {
	for _, tt := range compileCases {
		t.Run(tt.name, func(t *testing.T) {
			p1, err := Compile(&tt.b)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			b1, err := json.MarshalIndent(p1, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			p2, err := Parse(b1)
			if err != nil {
				t.Fatalf("Parse(Compile output): %v\n%s", err, b1)
			}
			b2, err := json.MarshalIndent(p2, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(b1), string(b2)); d != "" {
				t.Errorf("Marshal(Parse(Marshal(p))) mismatch (-compiled +parsed):\n%s", d)
			}
			if d := cmp.Diff(p1, p2, cmpopts.IgnoreUnexported(Policy{}, Route{})); d != "" {
				t.Errorf("Parse(Marshal(p)) mismatch (-compiled +parsed):\n%s", d)
			}
			for _, r := range p1.Routes {
				if got, ok := p2.Lookup(r.Host); !ok || got.Host != r.Host {
					t.Errorf("parsed Lookup(%q) = %v, %v", r.Host, got, ok)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		b    *manifest.Bottle
		want string
	}{
		{"nil", nil, "no bottle"},
		{"unresolved-dlp", &manifest.Bottle{Name: "x", Egress: manifest.Egress{Routes: []manifest.Route{{Host: "a.example"}}}}, "routes[0].dlp.outbound: missing"},
		{"numeric-tld", &manifest.Bottle{Name: "x", Egress: manifest.Egress{Routes: []manifest.Route{route("1.2.3", nil)}}}, "routes[0].host"},
		{"bad-regex", &manifest.Bottle{Name: "x", Egress: manifest.Egress{Routes: []manifest.Route{{
			Host: "a.example", DLP: defaultDLP(),
			Matches: []manifest.Match{{Paths: []manifest.PathMatch{{Type: "regex", Value: "("}}}},
		}}}}, "routes[0].matches[0].paths[0].value"},
		{"auth-header-host", &manifest.Bottle{Name: "x", Egress: manifest.Egress{Routes: []manifest.Route{
			route("a.example", &manifest.Auth{Header: "Host", TokenRef: "T"}),
		}}}, "routes[0].auth.header"},
		{"auth-header-scheme", &manifest.Bottle{Name: "x", Egress: manifest.Egress{Routes: []manifest.Route{
			route("a.example", &manifest.Auth{Header: "X-Api-Key", Scheme: "Bearer", TokenRef: "T"}),
		}}}, "routes[0].auth.scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
