package provider

import (
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
		{manifest.TemplateCodex, []string{"codex"}, []string{"codex", "exec", "--skip-git-repo-check", "say hi"}},
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
