package provider

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// Secrets the test environment holds. None may appear in a plan's files,
// and only the bottle's own env entries may carry the last two.
const (
	realClaudeToken = "sk-ant-oat01-REAL-HOST-TOKEN"
	realCodexToken  = "eyJREAL.CODEX.ACCESS"
	hostValue       = "host-secret-value"
	promptedValue   = "prompted-secret-value"
)

var hostEnv = map[string]string{
	"BOT_BOTTLE_CLAUDE_OAUTH_TOKEN":      realClaudeToken,
	"BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN": realCodexToken,
	"HOST_TOKEN":                         hostValue,
}

func str(s string) manifest.Value[string] { return manifest.Value[string]{V: s, Set: true} }

// resolved is a small resolved manifest for template tmpl: an agent with a
// prompt, two skills and a git identity, a bottle with one env entry of
// each kind and the routes its provider's login needs.
func resolved(tmpl string) *manifest.Resolved {
	b := &manifest.Bottle{
		Name:     "dev",
		Provider: manifest.Provider{Template: str(tmpl)},
		Env: []manifest.EnvVar{
			{Name: "LOG_LEVEL", Value: manifest.EnvValue{Mode: manifest.EnvLiteral, Literal: "debug"}},
			{Name: "GITEA_TOKEN", Value: manifest.EnvValue{Mode: manifest.EnvHost, HostVar: "HOST_TOKEN"}},
			{Name: "DB_PASSWORD", Value: manifest.EnvValue{Mode: manifest.EnvPrompt, Prompt: "database password"}},
		},
	}
	switch tmpl {
	case manifest.TemplateClaude:
		b.Egress.Routes = []manifest.Route{{Host: "api.anthropic.com", Role: manifest.RoleClaudeCodeOAuth,
			Auth: &manifest.Auth{Scheme: manifest.AuthSchemeBearer, TokenRef: "BOT_BOTTLE_CLAUDE_OAUTH_TOKEN"}}}
	case manifest.TemplateCodex:
		b.Provider.ForwardHostCredentials = manifest.Value[bool]{V: true, Set: true}
		b.Egress.Routes = []manifest.Route{{Host: "chatgpt.com", Role: manifest.RoleCodexHostAuth,
			Auth: &manifest.Auth{Scheme: manifest.AuthSchemeBearer, TokenRef: "BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN"}}}
	case manifest.TemplatePi:
		b.Provider.Settings = manifest.Value[*manifest.PiSettings]{V: &manifest.PiSettings{
			Provider: "local", BaseURL: "https://models.example/v1", Models: []string{"coder-7b", "coder-32b"},
		}, Set: true}
		b.Egress.Routes = []manifest.Route{{Host: "models.example"}}
	}
	return &manifest.Resolved{
		Agent: &manifest.Agent{
			Name:   "implementer",
			Skills: []manifest.Value[string]{str("review"), str("deploy")},
			Prompt: "You implement issues. Be brief.",
		},
		Bottles: []string{"dev"},
		Bottle:  b,
		GitUser: manifest.GitUser{Name: str("Bot Bottle"), Email: str("bot@example.com")},
	}
}

// skillDirs are two skills folders; review is in both, and the first wins.
func skillDirs() []fs.FS {
	return []fs.FS{
		fstest.MapFS{
			"review/SKILL.md":        {Data: []byte("---\nname: review\n---\nReview diffs.\n")},
			"review/scripts/lint.sh": {Data: []byte("#!/bin/sh\nexit 0\n"), Mode: 0o755},
			"review/ref/notes.md":    {Data: []byte("notes\n"), Mode: 0o600},
		},
		fstest.MapFS{
			"review/SKILL.md": {Data: []byte("shadowed\n")},
			"deploy/SKILL.md": {Data: []byte("---\nname: deploy\n---\nDeploy.\n")},
		},
	}
}

// env records the host variables looked up.
type env struct{ looked []string }

func (e *env) lookup(name string) (string, bool) {
	e.looked = append(e.looked, name)
	v, ok := hostEnv[name]
	return v, ok
}

func options(e *env, prompted *[]string) Options {
	return Options{
		SkillDirs: skillDirs(),
		LookupEnv: e.lookup,
		Prompt: func(name, message string) (string, error) {
			*prompted = append(*prompted, name+": "+message)
			return promptedValue, nil
		},
		GitRewrites: []GitRewrite{{Base: "git://git-gate/app.git", InsteadOf: "ssh://git@gitea.example:2222/org/app.git"}},
		MCPServers:  []MCPServer{{Name: "supervise", URL: "http://sidecar:9100/"}},
		CodexLogin:  &CodexLogin{Expiry: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), AccountID: "acct-123", PlanType: "pro", Email: "dev@example.com"},
		Now:         func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) },
	}
}

// render is a plan as a txtar archive: commands and environment in the
// comment, one entry per file named by path, mode and owner.
func render(p *Plan) []byte {
	var c strings.Builder
	fmt.Fprintf(&c, "template: %s\nuser: %s %d:%d %s\n", p.Template, p.User.Name, p.User.UID, p.User.GID, p.User.Home)
	fmt.Fprintf(&c, "interactive: %q\nheadless: %q\n", p.Interactive, p.Headless)
	for _, e := range p.Env {
		fmt.Fprintf(&c, "env: %s=%s\n", e.Name, e.Value.Reveal())
	}
	a := &txtar.Archive{Comment: []byte(c.String())}
	for _, f := range p.Files {
		owner := "agent"
		if f.Root {
			owner = "root"
		}
		a.Files = append(a.Files, txtar.File{Name: fmt.Sprintf("%s %04o %s", f.Path, f.Mode, owner), Data: f.Data})
	}
	return txtar.Format(a)
}

func TestProvision(t *testing.T) {
	for _, tmpl := range manifest.Templates {
		t.Run(tmpl, func(t *testing.T) {
			var e env
			var prompted []string
			opts := options(&e, &prompted)
			opts.Headless, opts.HeadlessPrompt = true, "fix the failing test"
			p, err := Provision(resolved(tmpl), opts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "provision/"+tmpl+".txtar", render(p))

			if diff := cmp.Diff(AgentUser, p.User); diff != "" {
				t.Errorf("User mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"HOST_TOKEN"}, e.looked); diff != "" {
				t.Errorf("host variables looked up (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"DB_PASSWORD: database password"}, prompted); diff != "" {
				t.Errorf("prompts (-want +got):\n%s", diff)
			}
			seen := map[string]bool{}
			for _, f := range p.Files {
				if !strings.HasPrefix(f.Path, Home+"/") || path.Clean(f.Path) != f.Path || f.Root || seen[f.Path] {
					t.Errorf("file %s: want a unique, clean, agent-owned path under %s", f.Path, Home)
				}
				seen[f.Path] = true
				for _, s := range []string{realClaudeToken, realCodexToken, hostValue, promptedValue} {
					if strings.Contains(string(f.Data), s) {
						t.Errorf("file %s holds a secret", f.Path)
					}
				}
			}
			for _, v := range p.Env {
				if s := v.Value.Reveal(); s == realClaudeToken || s == realCodexToken {
					t.Errorf("env %s holds a host credential", v.Name)
				}
			}
			if got := p.Command(); !cmp.Equal(got, p.Headless) {
				t.Errorf("Command() = %q, want the headless command %q", got, p.Headless)
			}
		})
	}
}

func TestProvisionCommands(t *testing.T) {
	for _, tc := range []struct {
		tmpl        string
		interactive []string
		headless    []string
	}{
		{"claude", []string{"claude", "--dangerously-skip-permissions"}, []string{"claude", "--dangerously-skip-permissions", "-p", "say hi"}},
		{"codex", []string{"codex", "--no-daemon"}, []string{"codex", "exec", "--skip-git-repo-check", "say hi"}},
		{"pi", []string{"pi"}, []string{"pi", "-p", "say hi"}},
		{"shell", []string{"bash", "-l"}, []string{"bash", "-lc", "say hi"}},
	} {
		t.Run(tc.tmpl, func(t *testing.T) {
			r := resolved(tc.tmpl)
			r.Bottle.Env = nil
			p, err := Provision(r, Options{SkillDirs: skillDirs()})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.interactive, p.Interactive); diff != "" {
				t.Errorf("Interactive mismatch (-want +got):\n%s", diff)
			}
			if p.Headless != nil || !cmp.Equal(p.Command(), tc.interactive) {
				t.Errorf("not headless: Headless = %q, Command() = %q; want nil and the interactive command", p.Headless, p.Command())
			}
			p, err = Provision(r, Options{SkillDirs: skillDirs(), Headless: true, HeadlessPrompt: "say hi"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.headless, p.Headless); diff != "" {
				t.Errorf("Headless mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProvisionDefaults covers a bottle with no provider routes, no
// settings, no prompt, no skills and no git identity.
func TestProvisionDefaults(t *testing.T) {
	for _, tmpl := range manifest.Templates {
		t.Run(tmpl, func(t *testing.T) {
			r := &manifest.Resolved{
				Agent:  &manifest.Agent{Name: "a"},
				Bottle: &manifest.Bottle{Name: "b", Provider: manifest.Provider{Template: str(tmpl)}, Workspace: manifest.Workspace{Path: str("/src")}},
			}
			p, err := Provision(r, Options{Now: func() time.Time { return time.Unix(0, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "provision/"+tmpl+"-defaults.txtar", render(p))
		})
	}
	// Claude's placeholder follows the route role alone.
	p, err := Provision(&manifest.Resolved{Agent: &manifest.Agent{}, Bottle: &manifest.Bottle{}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Template != manifest.TemplateClaude {
		t.Errorf("Template = %q for a bottle naming none, want claude", p.Template)
	}
	for _, e := range p.Env {
		if e.Name == "CLAUDE_CODE_OAUTH_TOKEN" {
			t.Errorf("CLAUDE_CODE_OAUTH_TOKEN set without a claude_code_oauth route")
		}
	}
}

func TestProvisionErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*manifest.Resolved, *Options)
		want   []string
	}{
		{"nil-resolved", func(r *manifest.Resolved, _ *Options) { r.Bottle = nil }, []string{"no resolved agent and bottle"}},
		{"unknown-template", func(r *manifest.Resolved, _ *Options) { r.Bottle.Provider.Template = str("aider") }, []string{`unknown provider template "aider"`, "claude, codex, pi, shell"}},
		{"headless-no-prompt", func(_ *manifest.Resolved, o *Options) { o.Headless = true }, []string{"headless run needs a prompt"}},
		{"host-vars-unset", func(r *manifest.Resolved, o *Options) {
			o.LookupEnv = func(string) (string, bool) { return "", false }
			r.Bottle.Env = append(r.Bottle.Env, manifest.EnvVar{Name: "SECOND", Value: manifest.EnvValue{Mode: manifest.EnvHost, HostVar: "OTHER_VAR"}})
		}, []string{"env GITEA_TOKEN: host variable HOST_TOKEN is not set", "env SECOND: host variable OTHER_VAR is not set"}},
		{"no-prompt", func(_ *manifest.Resolved, o *Options) { o.Prompt = nil }, []string{"env DB_PASSWORD: the bottle asks for its value"}},
		{"prompt-fails", func(_ *manifest.Resolved, o *Options) {
			o.Prompt = func(string, string) (string, error) { return "", errors.New("interrupted") }
		}, []string{"env DB_PASSWORD: asking for its value: interrupted"}},
		{"skill-missing", func(r *manifest.Resolved, _ *Options) { r.Agent.Skills = append(r.Agent.Skills, str("nope")) }, []string{`skill "nope": no nope/SKILL.md in any skills folder`}},
		{"skill-path", func(r *manifest.Resolved, _ *Options) { r.Agent.Skills = []manifest.Value[string]{str("../etc")} }, []string{`skill "../etc": not a folder name`}},
		{"skill-link", func(_ *manifest.Resolved, o *Options) {
			o.SkillDirs = []fs.FS{fstest.MapFS{
				"review/SKILL.md": {Data: []byte("x")},
				"review/key":      {Data: []byte("/home/me/.ssh/id_ed25519"), Mode: fs.ModeSymlink},
				"deploy/SKILL.md": {Data: []byte("x")},
			}}
		}, []string{`skill "review": review/key is not a regular file`}},
		{"git-user-newline", func(r *manifest.Resolved, _ *Options) { r.GitUser.Name = str("x\n[core]\n\thooksPath = /tmp") }, []string{"gitconfig: name:", "control character"}},
		{"git-rewrite-newline", func(_ *manifest.Resolved, o *Options) {
			o.GitRewrites = []GitRewrite{{Base: "git://gate/a.git\"]\n[core", InsteadOf: "ssh://x/a"}}
		}, []string{"gitconfig: url rewrite base"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := resolved(manifest.TemplateClaude)
			var e env
			var prompted []string
			opts := options(&e, &prompted)
			tc.change(r, &opts)
			_, err := Provision(r, opts)
			if err == nil {
				t.Fatalf("Provision succeeded, want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Provision error = %q, want it to contain %q", err, w)
				}
			}
			for _, s := range []string{realClaudeToken, realCodexToken, hostValue, promptedValue} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("Provision error holds a secret: %q", err)
				}
			}
		})
	}
}

func TestBottleEnvOverridesProvider(t *testing.T) {
	r := resolved(manifest.TemplateClaude)
	r.Bottle.Env = []manifest.EnvVar{{Name: "DISABLE_ERROR_REPORTING", Value: manifest.EnvValue{Mode: manifest.EnvLiteral, Literal: "0"}}}
	p, err := Provision(r, Options{SkillDirs: skillDirs()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range p.Env {
		got = append(got, e.Name+"="+e.Value.Reveal())
	}
	want := []string{
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_ERROR_REPORTING=0", "DISABLE_AUTOUPDATER=1",
		"MCP_TOOL_TIMEOUT=600000", "CLAUDE_CODE_MCP_AUTO_BACKGROUND_MS=0",
		"CLAUDE_CODE_OAUTH_TOKEN=" + Placeholder,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Env mismatch (-want +got):\n%s", diff)
	}
}
