package policy

import (
	"encoding/json"
	"strings"
	"testing"
)

// validPolicy returns a fresh policy that passes validation and uses every
// part of the format.
func validPolicy() *Policy {
	dlp := func() DLP {
		return DLP{Outbound: []string{"token_patterns"}, Inbound: []string{"naive_injection_detection"}, OnMatch: "supervise"}
	}
	return &Policy{
		Version: Version,
		Bottle:  "dev",
		Log:     1,
		Routes: []Route{
			{Host: "api.github.com", Auth: &Auth{Scheme: "Bearer", Slot: "EGRESS_TOKEN_0"}, DLP: dlp(), Matches: []Match{{
				Paths:   []PathMatch{{Type: "prefix", Value: "/repos"}, {Type: "regex", Value: "/user/.*"}},
				Methods: []string{"GET"},
				Headers: []HeaderMatch{{Name: "Accept", Value: "application/json", Type: "exact"}},
			}}},
			{Host: "uploads.github.com", Auth: &Auth{Scheme: "token", Slot: "EGRESS_TOKEN_0"}, DLP: dlp(), Role: "codex_host_auth"},
		},
		Tokens: []TokenSlot{{Slot: "EGRESS_TOKEN_0", Env: "GH_TOKEN", Hosts: []string{"api.github.com", "uploads.github.com"}}},
		GitGate: &GitGate{
			User: &GitUser{Name: "Bot", Email: "bot@example.com"},
			Repos: []Repo{{
				Name: "app", URL: "ssh://git@github.com/acme/app.git", User: "git", Host: "github.com", Port: 22, Path: "/acme/app.git",
				HostKey: hostKey, Key: RepoKey{Provider: "static", Slot: "GIT_KEY_0"},
				Branches: []string{"bot/**"}, ProtectedPaths: []string{".github/workflows/**"},
			}},
		},
	}
}

func TestParseValid(t *testing.T) {
	data, err := json.Marshal(validPolicy())
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(validPolicy) = %v", err)
	}
	r, ok := p.Lookup("API.GITHUB.COM.")
	if !ok || !r.Allows("get", "/repos/x", map[string][]string{"Accept": {"application/json"}}) {
		t.Errorf("parsed policy does not allow GET /repos/x on api.github.com")
	}
	if r.Allows("GET", "/orgs", map[string][]string{"Accept": {"application/json"}}) {
		t.Errorf("parsed policy allows GET /orgs on api.github.com")
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *Policy)
		want   string
	}{
		{"version", func(p *Policy) { p.Version = 7 }, "policy version 7 is not supported (supported: 1)"},
		{"bottle-empty", func(p *Policy) { p.Bottle = "" }, "bottle:"},
		{"bottle-name", func(p *Policy) { p.Bottle = "Dev Box" }, "bottle:"},
		{"log-high", func(p *Policy) { p.Log = 3 }, "log:"},
		{"log-negative", func(p *Policy) { p.Log = -1 }, "log:"},
		{"host-empty", func(p *Policy) { p.Routes[1].Host = "" }, "routes[1].host"},
		{"host-upper", func(p *Policy) { p.Routes[1].Host = "Uploads.github.com" }, "routes[1].host"},
		{"host-ipv4", func(p *Policy) { p.Routes[1].Host = "10.0.0.1" }, "routes[1].host"},
		{"host-ipv6", func(p *Policy) { p.Routes[1].Host = "[::1]" }, "routes[1].host"},
		{"host-ipv6-bare", func(p *Policy) { p.Routes[1].Host = "::1" }, "routes[1].host"},
		{"host-numeric-tld", func(p *Policy) { p.Routes[1].Host = "127.1" }, "routes[1].host"},
		{"host-hex-tld", func(p *Policy) { p.Routes[1].Host = "a.0x7f" }, "routes[1].host"},
		{"host-port", func(p *Policy) { p.Routes[1].Host = "uploads.github.com:443" }, "routes[1].host"},
		{"host-scheme", func(p *Policy) { p.Routes[1].Host = "https://uploads.github.com" }, "routes[1].host"},
		{"host-path", func(p *Policy) { p.Routes[1].Host = "uploads.github.com/x" }, "routes[1].host"},
		{"host-wildcard", func(p *Policy) { p.Routes[1].Host = "*.github.com" }, "routes[1].host"},
		{"host-trailing-dot", func(p *Policy) { p.Routes[1].Host = "uploads.github.com." }, "routes[1].host"},
		{"host-label", func(p *Policy) { p.Routes[1].Host = "-x.github.com" }, "routes[1].host"},
		{"host-unicode", func(p *Policy) { p.Routes[1].Host = "\u212Aube.com" }, "routes[1].host"},
		{"host-duplicate", func(p *Policy) { p.Routes[1].Host = "api.github.com" }, "routes[1].host: \"api.github.com\" is already routed"},
		{"role", func(p *Policy) { p.Routes[1].Role = "admin" }, "routes[1].role"},
		{"auth-scheme", func(p *Policy) { p.Routes[1].Auth.Scheme = "Basic" }, "routes[1].auth.scheme"},
		{"auth-scheme-empty", func(p *Policy) { p.Routes[1].Auth.Scheme = "" }, "routes[1].auth.scheme"},
		{"auth-header-host", func(p *Policy) { p.Routes[1].Auth = &Auth{Header: "Host", Slot: "EGRESS_TOKEN_0"} }, "routes[1].auth.header"},
		{"auth-header-proxy", func(p *Policy) { p.Routes[1].Auth = &Auth{Header: "Proxy-Authorization", Slot: "EGRESS_TOKEN_0"} }, "routes[1].auth.header"},
		{"auth-header-content", func(p *Policy) { p.Routes[1].Auth = &Auth{Header: "Content-Length", Slot: "EGRESS_TOKEN_0"} }, "routes[1].auth.header"},
		{"auth-header-token", func(p *Policy) { p.Routes[1].Auth = &Auth{Header: "X-Api-Key:", Slot: "EGRESS_TOKEN_0"} }, "routes[1].auth.header"},
		{"auth-header-case", func(p *Policy) { p.Routes[1].Auth = &Auth{Header: "x-api-key", Slot: "EGRESS_TOKEN_0"} }, "routes[1].auth.header: \"x-api-key\" is not in canonical form (X-Api-Key)"},
		{"auth-header-authorization", func(p *Policy) {
			p.Routes[1].Auth = &Auth{Header: "Authorization", Scheme: "Bearer", Slot: "EGRESS_TOKEN_0"}
		}, "routes[1].auth.header: \"Authorization\" is the default"},
		{"auth-header-with-scheme", func(p *Policy) {
			p.Routes[1].Auth = &Auth{Header: "X-Api-Key", Scheme: "Bearer", Slot: "EGRESS_TOKEN_0"}
		}, "routes[1].auth.scheme"},
		{"auth-slot-shape", func(p *Policy) { p.Routes[1].Auth.Slot = "GH_TOKEN" }, "routes[1].auth.slot"},
		{"auth-slot-missing", func(p *Policy) { p.Routes[1].Auth.Slot = "EGRESS_TOKEN_9" }, "routes[1].auth.slot: \"EGRESS_TOKEN_9\" is not in tokens"},
		{"auth-slot-unbound", func(p *Policy) { p.Tokens[0].Hosts = p.Tokens[0].Hosts[:1] }, "routes[1].auth.slot"},
		{"path-type", func(p *Policy) { p.Routes[0].Matches[0].Paths[0].Type = "glob" }, "routes[0].matches[0].paths[0].type"},
		{"path-prefix-slash", func(p *Policy) { p.Routes[0].Matches[0].Paths[0].Value = "repos" }, "routes[0].matches[0].paths[0].value"},
		{"path-exact-slash", func(p *Policy) { p.Routes[0].Matches[0].Paths[0] = PathMatch{Type: "exact", Value: ""} }, "routes[0].matches[0].paths[0].value"},
		{"path-regex", func(p *Policy) { p.Routes[0].Matches[0].Paths[1].Value = "/user/(" }, "routes[0].matches[0].paths[1].value"},
		{"method-lower", func(p *Policy) { p.Routes[0].Matches[0].Methods[0] = "get" }, "routes[0].matches[0].methods[0]"},
		{"method-token", func(p *Policy) { p.Routes[0].Matches[0].Methods[0] = "GET /" }, "routes[0].matches[0].methods[0]"},
		{"header-name", func(p *Policy) { p.Routes[0].Matches[0].Headers[0].Name = "Accept:" }, "routes[0].matches[0].headers[0].name"},
		{"header-type", func(p *Policy) { p.Routes[0].Matches[0].Headers[0].Type = "prefix" }, "routes[0].matches[0].headers[0].type"},
		{"header-regex", func(p *Policy) { p.Routes[0].Matches[0].Headers[0] = HeaderMatch{Name: "A", Value: "[", Type: "regex"} }, "routes[0].matches[0].headers[0].value"},
		{"match-empty", func(p *Policy) { p.Routes[0].Matches = append(p.Routes[0].Matches, Match{}) }, "routes[0].matches[1]: empty match entry"},
		{"dlp-outbound-name", func(p *Policy) { p.Routes[0].DLP.Outbound = []string{"naive_injection_detection"} }, "routes[0].dlp.outbound[0]"},
		{"dlp-outbound-twice", func(p *Policy) { p.Routes[0].DLP.Outbound = []string{"entropy", "entropy"} }, "routes[0].dlp.outbound[1]"},
		{"dlp-outbound-missing", func(p *Policy) { p.Routes[0].DLP.Outbound = nil }, "routes[0].dlp.outbound: missing"},
		{"dlp-inbound-name", func(p *Policy) { p.Routes[0].DLP.Inbound = []string{"entropy"} }, "routes[0].dlp.inbound[0]"},
		{"dlp-inbound-missing", func(p *Policy) { p.Routes[0].DLP.Inbound = nil }, "routes[0].dlp.inbound: missing"},
		{"dlp-on-match", func(p *Policy) { p.Routes[0].DLP.OnMatch = "allow" }, "routes[0].dlp.on_match"},
		{"dlp-on-match-empty", func(p *Policy) { p.Routes[0].DLP.OnMatch = "" }, "routes[0].dlp.on_match"},
		{"token-slot", func(p *Policy) { p.Tokens[0].Slot = "EGRESS_TOKEN_x" }, "tokens[0].slot"},
		{"token-slot-duplicate", func(p *Policy) {
			p.Tokens = append(p.Tokens, TokenSlot{Slot: "EGRESS_TOKEN_0", Env: "OTHER", Hosts: []string{"api.github.com"}})
		}, "tokens[1].slot"},
		{"token-env", func(p *Policy) { p.Tokens[0].Env = "ghp_abc-123" }, "tokens[0].env"},
		{"token-env-duplicate", func(p *Policy) {
			p.Tokens = append(p.Tokens, TokenSlot{Slot: "EGRESS_TOKEN_1", Env: "GH_TOKEN", Hosts: []string{"api.github.com"}})
		}, "tokens[1].env"},
		{"token-hosts-empty", func(p *Policy) {
			p.Tokens = append(p.Tokens, TokenSlot{Slot: "EGRESS_TOKEN_1", Env: "X"})
		}, "tokens[1].hosts"},
		{"token-host-unrouted", func(p *Policy) { p.Tokens[0].Hosts = append(p.Tokens[0].Hosts, "evil.example") }, "tokens[0].hosts[2]: \"evil.example\" has no route"},
		{"token-host-no-auth", func(p *Policy) { p.Routes[1].Auth = nil }, "tokens[0].hosts[1]"},
		{"token-host-twice", func(p *Policy) { p.Tokens[0].Hosts = append(p.Tokens[0].Hosts, "api.github.com") }, "tokens[0].hosts[2]"},
		{"git-user-empty", func(p *Policy) { p.GitGate.User = &GitUser{} }, "git_gate.user"},
		{"git-user-newline", func(p *Policy) { p.GitGate.User.Name = "Bot\n[core]" }, "git_gate.user.name"},
		{"repo-name", func(p *Policy) { p.GitGate.Repos[0].Name = "a/b" }, "git_gate.repos[0].name"},
		{"repo-name-duplicate", func(p *Policy) {
			r := p.GitGate.Repos[0]
			r.Key.Slot = "GIT_KEY_1"
			p.GitGate.Repos = append(p.GitGate.Repos, r)
		}, "git_gate.repos[1].name"},
		{"repo-url", func(p *Policy) { p.GitGate.Repos[0].URL = "https://git.test/acme/app.git" }, "git_gate.repos[0].url"},
		{"repo-url-disagrees", func(p *Policy) { p.GitGate.Repos[0].URL = "ssh://git@evil.example/acme/app.git" }, "git_gate.repos[0].url"},
		{"repo-user", func(p *Policy) { p.GitGate.Repos[0].User = "-oProxyCommand=x" }, "git_gate.repos[0].user"},
		{"repo-host", func(p *Policy) { p.GitGate.Repos[0].Host = "GitHub.com" }, "git_gate.repos[0].host"},
		{"repo-port", func(p *Policy) { p.GitGate.Repos[0].Port = 0 }, "git_gate.repos[0].port"},
		{"repo-path", func(p *Policy) { p.GitGate.Repos[0].Path = "/acme/../etc" }, "git_gate.repos[0].path"},
		{"repo-host-key", func(p *Policy) { p.GitGate.Repos[0].HostKey = "ssh-ed25519 not*base64" }, "git_gate.repos[0].host_key"},
		{"repo-key-provider", func(p *Policy) { p.GitGate.Repos[0].Key.Provider = "github" }, "git_gate.repos[0].key.provider"},
		{"repo-key-slot", func(p *Policy) { p.GitGate.Repos[0].Key.Slot = "/home/me/.ssh/id" }, "git_gate.repos[0].key.slot"},
		{"repo-branch", func(p *Policy) { p.GitGate.Repos[0].Branches = []string{"refs/heads/main"} }, "git_gate.repos[0].branches[0]"},
		{"repo-protected-missing", func(p *Policy) { p.GitGate.Repos[0].ProtectedPaths = nil }, "git_gate.repos[0].protected_paths: missing"},
		{"repo-protected-abs", func(p *Policy) { p.GitGate.Repos[0].ProtectedPaths = []string{"/etc"} }, "git_gate.repos[0].protected_paths[0]"},
		{"repo-max-push", func(p *Policy) { p.GitGate.Repos[0].MaxPushBytes = -1 }, "git_gate.repos[0].max_push_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPolicy()
			tt.mutate(p)
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(data)
			if err == nil {
				t.Fatalf("Parse(%s) = %+v, want an error containing %q", data, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse() error = %q, want one containing %q", err, tt.want)
			}
			t.Log(err)
		})
	}
}

func TestParseRejectsDocument(t *testing.T) {
	valid, err := json.Marshal(validPolicy())
	if err != nil {
		t.Fatal(err)
	}
	doc := string(valid)
	tests := []struct {
		name string
		data string
		want string
	}{
		{"empty", "", "EOF"},
		{"null", "null", "policy has no version (supported: 1)"},
		{"array", "[]", "cannot unmarshal array"},
		{"no-version", `{"bottle":"dev"}`, "policy has no version"},
		{"version-7", `{"version":7,"future":true}`, "policy version 7 is not supported (supported: 1)"},
		{"version-string", `{"version":"1"}`, `policy version "1" is not supported`},
		{"version-float", `{"version":1.5}`, "policy version 1.5 is not supported"},
		{"unknown-field", strings.Replace(doc, `"log":1`, `"log":1,"allow_all":true`, 1), `unknown field "allow_all"`},
		{"unknown-nested", strings.Replace(doc, `"git_fetch":false`, `"git_fetch":false,"push":true`, 1), `unknown field "push"`},
		{"trailing-object", doc + `{}`, "data after the policy object"},
		{"trailing-garbage", doc + ` x`, "data after the policy object"},
		{"two-policies", doc + "\n" + doc, "data after the policy object"},
		{"duplicate-key", strings.Replace(doc, `"log":1`, `"log":1,"log":2`, 1), `key "log" appears twice`},
		{"duplicate-nested-key", strings.Replace(doc, `"on_match":"supervise"`, `"on_match":"supervise","on_match":"block"`, 1), `key "on_match" appears twice`},
		{"case-key", strings.Replace(doc, `"log":1`, `"LOG":1`, 1), `key "LOG" is not a policy field`},
		{"fold-key", strings.Replace(doc, `"tokens"`, `"to\u212Aens"`, 1), "is not a policy field"},
		{"wrong-type", strings.Replace(doc, `"log":1`, `"log":"1"`, 1), "cannot unmarshal"},
		{"syntax", doc[:len(doc)-1], "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatalf("Parse(%s) = %+v, want an error containing %q", tt.data, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse() error = %q, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestParseReportsAll checks that one Parse reports every problem.
func TestParseReportsAll(t *testing.T) {
	p := validPolicy()
	p.Log = 9
	p.Routes[0].Host = "10.0.0.1"
	p.Routes[1].DLP.OnMatch = "nope"
	data, _ := json.Marshal(p)
	_, err := Parse(data)
	if err == nil {
		t.Fatal("Parse() = nil error")
	}
	for _, want := range []string{"log:", "routes[0].host", "routes[1].dlp.on_match"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse() error = %q, want it to contain %q", err, want)
		}
	}
}
