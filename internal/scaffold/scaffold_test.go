package scaffold

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

func TestWriteValidAndNeverOverwrites(t *testing.T) {
	home := t.TempDir()
	res, err := Write(home)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"agents/claude.md", "agents/codex.md", "agents/example.md", "bottles/claude.md", "bottles/codex.md", "bottles/pi.md", "bottles/shell.md"}
	slices.Sort(res.Created)
	if !slices.Equal(res.Created, want) || len(res.Kept) != 0 {
		t.Fatalf("first Write = %+v, want created %v", res, want)
	}

	ix, err := manifest.Discover(manifest.Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ix.Validate() {
		if d.Severity == manifest.SevError {
			t.Errorf("scaffolded manifest invalid: %s", d)
		}
	}
	for _, agent := range []string{"example", "claude", "codex"} {
		if _, ds := ix.Resolve(agent, nil); ds.HasErrors() {
			t.Errorf("agent %s does not resolve: %v", agent, ds)
		}
	}

	mine := filepath.Join(home, "bottles", "shell.md")
	if err := os.WriteFile(mine, []byte("---\n---\nmine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = Write(home)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != 0 || len(res.Kept) != len(want) {
		t.Errorf("second Write = %+v, want everything kept", res)
	}
	if got, _ := os.ReadFile(mine); string(got) != "---\n---\nmine\n" {
		t.Errorf("Write overwrote %s: %q", mine, got)
	}
}
