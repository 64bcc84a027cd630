package kepthome

import (
	"os"
	"path/filepath"
	"testing"
)

func TestClear(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(outside, "victim"), []byte("host"), 0o644))
	must(os.Symlink(outside, filepath.Join(root, "dirlink")))
	must(os.Symlink(filepath.Join(outside, "victim"), filepath.Join(root, "filelink")))
	must(os.MkdirAll(filepath.Join(root, "real", "sub"), 0o755))
	must(os.WriteFile(filepath.Join(root, "real", "keep"), []byte("kept"), 0o644))
	must(os.WriteFile(filepath.Join(root, "real", "file"), []byte("old"), 0o644))
	must(os.Link(filepath.Join(outside, "victim"), filepath.Join(root, "hard")))
	must(os.WriteFile(filepath.Join(root, "notdir"), nil, 0o644))

	for _, tc := range []struct{ p, gone string }{
		{"dirlink/x", "dirlink"},
		{"filelink", "filelink"},
		{"hard", "hard"},
		{"real/file", "real/file"},
		{"notdir/x", "notdir"},
		{"real/sub", "real/sub"},
		{"absent/deeper/x", ""},
	} {
		if err := Clear(root, filepath.Join(root, tc.p)); err != nil {
			t.Fatalf("Clear(%s) = %v", tc.p, err)
		}
		if tc.gone != "" {
			if _, err := os.Lstat(filepath.Join(root, tc.gone)); !os.IsNotExist(err) {
				t.Errorf("Clear(%s) left %s (%v)", tc.p, tc.gone, err)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "victim")); err != nil || string(b) != "host" {
		t.Errorf("the file outside changed: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "real", "keep")); err != nil || string(b) != "kept" {
		t.Errorf("a sibling in a real folder went: %q %v", b, err)
	}
	for _, p := range []string{root, filepath.Join(root, ".."), filepath.Join(outside, "victim")} {
		if err := Clear(root, p); err == nil {
			t.Errorf("Clear(%s) outside the root succeeded", p)
		}
	}
}
