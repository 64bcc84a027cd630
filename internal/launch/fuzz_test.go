package launch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzProtectWorkspace feeds arbitrary .git files and .gitmodules to the
// protection plan: it must never panic, and every path it protects or
// creates must be a clean path inside the workspace.
func FuzzProtectWorkspace(f *testing.F) {
	f.Add([]byte("gitdir: sub/gitdir\n"), []byte("[submodule \"a\"]\n\tpath = a\n"))
	f.Add([]byte("gitdir: ../../etc\n"), []byte("path = ../../x\npath=.git/modules\npath = \"q\"\n"))
	f.Add([]byte("gitdir: /\n"), []byte("path = a/../../b\n"))
	f.Add([]byte("gitdir:\n"), []byte("path =\n"))
	f.Fuzz(func(t *testing.T, gitFile, modules []byte) {
		root := t.TempDir()
		for _, d := range []string{"sub/gitdir/hooks", "a"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(root, ".git"), gitFile, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, ".gitmodules"), modules, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "a", ".git"), gitFile, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := ProtectWorkspace(root)
		if err != nil {
			return
		}
		for _, rel := range append(slices.Clone(p.Pinned), p.ReadOnly...) {
			if rel == "" || filepath.IsAbs(rel) || filepath.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("protected path %q is not a clean path inside the workspace", rel)
			}
		}
		for _, ph := range p.Placeholders {
			if !strings.HasPrefix(ph.Path, root+"/") {
				t.Fatalf("placeholder %s is outside the workspace %s", ph.Path, root)
			}
		}
	})
}

// FuzzAccountHomes: any passwd data gives only clean absolute homes.
func FuzzAccountHomes(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"))
	f.Add([]byte("a:x:1:1::/home/../etc:/bin/sh\r\nb:x\n#c:x:1:1::/home/c:/x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, h := range accountHomes(data) {
			if !filepath.IsAbs(h) || filepath.Clean(h) != h || h == "/" {
				t.Fatalf("accountHomes gave %q", h)
			}
		}
	})
}
