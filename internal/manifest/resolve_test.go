package manifest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestResolveCacheReplaysDiagnostics checks that a bottle resolved once
// (and cached) reports the same errors when asked again on the same Index:
// cycle and missing-parent errors included, not just parse errors.
func TestResolveCacheReplaysDiagnostics(t *testing.T) {
	home := t.TempDir()
	files := map[string]string{
		"a": "extends: b\n", "b": "extends: a\n",
		"c": "extends: d\n", "d": "extends: nope\n",
	}
	if err := os.MkdirAll(BottlesDir(home), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, fm := range files {
		if err := os.WriteFile(filepath.Join(BottlesDir(home), name+".md"), []byte("---\n"+fm+"---\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := Discover(Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for _, name := range []string{"a", "b", "c", "d"} {
			if ds := ix.ValidateBottle(name); !ds.HasErrors() {
				t.Errorf("round %d: ValidateBottle(%q) has no errors; want the cycle or missing parent reported", round, name)
			}
			if _, ds := ix.ResolveBottle(name); !ds.HasErrors() {
				t.Errorf("round %d: ResolveBottle(%q) has no errors", round, name)
			}
		}
	}
}
