package manifest

import (
	"strings"
	"testing"
)

func TestCheckHost(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"api.anthropic.com", "api.anthropic.com", ""},
		{"API.Example.COM.", "api.example.com", ""},
		{"ollama", "ollama", ""},
		{"", "", "empty"},
		{"https://x.test", "", "scheme"},
		{"x.test/path", "", "bare hostname"},
		{"*.x.test", "", "wildcards"},
		{"10.0.0.1", "", "IP literal"},
		{"[::1]", "", "IP literal"},
		{"::1", "", "IP literal"},
		{"x.test:443", "", "port"},
		{"-bad.test", "", "not a valid DNS name"},
		{"a..b", "", "not a valid DNS name"},
		{"under_score.test", "", "not a valid DNS name"},
		{"127.1", "", "numeric label"},
		{"a.0x7f", "", "numeric label"},
		{"host.123", "", "numeric label"},
		{"1password.com", "1password.com", ""},
		{strings.Repeat("a", 64) + ".test", "", "not a valid DNS name"},
	}
	for _, tt := range tests {
		got, err := checkHost(tt.in)
		if tt.err == "" && (err != nil || got != tt.want) {
			t.Errorf("checkHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("checkHost(%q) error = %v; want it to mention %q", tt.in, err, tt.err)
		}
	}
}

func TestParseRepoURL(t *testing.T) {
	tests := []struct {
		in  string
		ok  RepoURL
		err string
	}{
		{"ssh://git@gitea.test/org/app.git", RepoURL{"ssh://git@gitea.test/org/app.git", "git", "gitea.test", 22, "/org/app.git"}, ""},
		{"ssh://git@Gitea.Test:2222/org/app", RepoURL{"ssh://git@Gitea.Test:2222/org/app", "git", "gitea.test", 2222, "/org/app"}, ""},
		{"ssh://git@10.0.0.5/x", RepoURL{"ssh://git@10.0.0.5/x", "git", "10.0.0.5", 22, "/x"}, ""},
		{"git@gitea.test:org/app.git", RepoURL{}, "ssh://git@gitea.test/org/app.git"},
		{"https://gitea.test/org/app.git", RepoURL{}, "SSH only"},
		{"ssh://gitea.test/org/app", RepoURL{}, "names no user"},
		{"ssh://git@gitea.test:0/x", RepoURL{}, "port"},
		{"ssh://git@gitea.test:99999/x", RepoURL{}, "port"},
		{"ssh://git@gitea.test:abc/x", RepoURL{}, "parse"},
		{"ssh://git@gitea.test/", RepoURL{}, "no repository path"},
		{"ssh://git@gitea.test", RepoURL{}, "no repository path"},
		{"ssh://git@gitea.test/a?x=1", RepoURL{}, "query"},
		{"ssh://git@gitea.test/a/../b", RepoURL{}, ".."},
		{"ssh://git:hunter2@gitea.test/a", RepoURL{}, "password"},
	}
	for _, tt := range tests {
		got, err := parseRepoURL(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.ok {
				t.Errorf("parseRepoURL(%q) = %+v, %v; want %+v", tt.in, got, err, tt.ok)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("parseRepoURL(%q) error = %v; want it to mention %q", tt.in, err, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("parseRepoURL(%q) error leaks the password: %v", tt.in, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"1024", 1024, false},
		{"512m", 512 << 20, false},
		{"512M", 512 << 20, false},
		{"4g", 4 << 30, false},
		{"2GiB", 2 << 30, false},
		{"1.5g", 3 << 29, false},
		{"10 MB", 10 << 20, false},
		{"", 0, true},
		{"lots", 0, true},
		{"5x", 0, true},
		{"1.5", 0, true},
		{"-1", 0, true},
		{"99999999999t", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestParseEnvValue(t *testing.T) {
	tests := []struct {
		in   string
		want EnvValue
		bad  bool
	}{
		{"plain", EnvValue{Mode: EnvLiteral, Literal: "plain"}, false},
		{"", EnvValue{Mode: EnvLiteral}, false},
		{"${HOME_TOKEN}", EnvValue{Mode: EnvHost, HostVar: "HOME_TOKEN"}, false},
		{"?", EnvValue{Mode: EnvPrompt}, false},
		{"?Enter the key", EnvValue{Mode: EnvPrompt, Prompt: "Enter the key"}, false},
		{"${1BAD}", EnvValue{}, true},
		{"${}", EnvValue{}, true},
		{"pre-${X}", EnvValue{}, true},
		{"${X}-post", EnvValue{}, true},
		{"$X", EnvValue{Mode: EnvLiteral, Literal: "$X"}, false},
	}
	for _, tt := range tests {
		got, err := parseEnvValue(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseEnvValue(%q) = %+v, %v; want %+v, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	for in, want := range map[string]int64{"2": 2000, "0.5": 500, "0.25": 250} {
		if got, err := parseCPUs(in); err != nil || got != want {
			t.Errorf("parseCPUs(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "abc", "2000", "0.001", "NaN", "Inf"} {
		if _, err := parseCPUs(in); err == nil {
			t.Errorf("parseCPUs(%q) succeeded; want an error", in)
		}
	}
}

func TestPatternChecks(t *testing.T) {
	// Only * and ** are wildcards: the gate matches ? and [ ] literally,
	// so a pattern using them would silently allow nothing.
	for _, p := range []string{"", "refs/heads/main", "a\nb", "[", "agent\x7f", "agent/?", "agent/[ab]", `a\*`} {
		if CheckBranchPattern(p) == nil {
			t.Errorf("CheckBranchPattern(%q) = nil, want an error", p)
		}
	}
	for _, p := range []string{"", "/etc", `a\b`, "a/../b", "./a", "a\tb", "[", "ci/?.yml", "ci/[ab].yml"} {
		if CheckPathPattern(p) == nil {
			t.Errorf("CheckPathPattern(%q) = nil, want an error", p)
		}
	}
	for _, p := range []string{"agent/*", "feature/**"} {
		if err := CheckBranchPattern(p); err != nil {
			t.Errorf("CheckBranchPattern(%q) = %v", p, err)
		}
	}
	if err := CheckPathPattern(".github/workflows/**"); err != nil {
		t.Errorf("CheckPathPattern(default) = %v", err)
	}
}
