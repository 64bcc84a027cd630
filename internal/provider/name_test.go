package provider

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// A label reaches the CLIs that show a session name, and only those.
func TestProvisionLabel(t *testing.T) {
	for _, tc := range []struct {
		tmpl                  string
		interactive, headless []string
	}{
		{manifest.TemplateClaude,
			[]string{"claude", "--name", "night shift", "--dangerously-skip-permissions"},
			[]string{"claude", "--name", "night shift", "--dangerously-skip-permissions", "-p", "say hi"}},
		{manifest.TemplateCodex, []string{"codex", "--no-daemon"}, []string{"codex", "exec", "--skip-git-repo-check", "say hi"}},
		{manifest.TemplateShell, []string{"bash", "-l"}, []string{"bash", "-lc", "say hi"}},
	} {
		t.Run(tc.tmpl, func(t *testing.T) {
			r := resolved(tc.tmpl)
			r.Bottle.Env = nil
			p, err := Provision(r, Options{SkillDirs: skillDirs(), Headless: true, HeadlessPrompt: "say hi", Label: "night shift"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([][]string{tc.interactive, tc.headless}, [][]string{p.Interactive, p.Headless}); diff != "" {
				t.Errorf("commands mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// An agent's model reaches every CLI: claude and codex on the command
// line (after codex's exec), pi as its default model.
func TestProvisionModel(t *testing.T) {
	for _, tc := range []struct {
		tmpl                  string
		interactive, headless []string
		file, want            string
	}{
		{tmpl: manifest.TemplateClaude,
			interactive: []string{"claude", "--model", "opus", "--dangerously-skip-permissions"},
			headless:    []string{"claude", "--model", "opus", "--dangerously-skip-permissions", "-p", "say hi"}},
		{tmpl: manifest.TemplateCodex,
			interactive: []string{"codex", "--model", "opus", "--no-daemon"},
			headless:    []string{"codex", "exec", "--model", "opus", "--skip-git-repo-check", "say hi"}},
		{tmpl: manifest.TemplatePi,
			interactive: []string{"pi"}, headless: []string{"pi", "-p", "say hi"},
			file: Home + "/.pi/agent/settings.json", want: `"defaultModel": "opus"`},
	} {
		t.Run(tc.tmpl, func(t *testing.T) {
			r := resolved(tc.tmpl)
			r.Bottle.Env = nil
			r.Agent.Model = manifest.Value[string]{V: "opus", Set: true}
			p, err := Provision(r, Options{SkillDirs: skillDirs(), Headless: true, HeadlessPrompt: "say hi"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([][]string{tc.interactive, tc.headless}, [][]string{p.Interactive, p.Headless}); diff != "" {
				t.Errorf("commands mismatch (-want +got):\n%s", diff)
			}
			if tc.file == "" {
				return
			}
			for _, f := range p.Files {
				if f.Path == tc.file {
					if !strings.Contains(string(f.Data), tc.want) {
						t.Errorf("%s = %s, want %s", f.Path, f.Data, tc.want)
					}
					return
				}
			}
			t.Errorf("no %s provisioned", tc.file)
		})
	}
}
