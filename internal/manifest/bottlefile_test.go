package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolveBottleFile(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(BottlesDir(home), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, body string) string {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	route := func(host string) string { return "  - host: " + host + "\n" }
	write(filepath.Join(BottlesDir(home), "base.md"), "---\negress:\n  routes:\n"+route("base.example")+"---\n")
	write(filepath.Join(BottlesDir(home), "dev.md"), "---\nextends: base\negress:\n  routes:\n"+route("dev.example")+"---\n")
	elsewhere := t.TempDir()
	tests := []struct {
		name    string
		file    string
		hosts   []string
		wantErr string
	}{
		{"parent-from-index", write(filepath.Join(elsewhere, "new.md"), "---\nextends: base\negress:\n  routes:\n"+route("new.example")+"---\n"), []string{"base.example", "new.example"}, ""},
		// An edited copy of a bottle of the index is read from the
		// file, not from the index.
		{"edited-copy", write(filepath.Join(elsewhere, "dev.md"), "---\nextends: base\negress:\n  routes:\n"+route("other.example")+"---\n"), []string{"base.example", "other.example"}, ""},
		{"in-index", filepath.Join(BottlesDir(home), "dev.md"), []string{"base.example", "dev.example"}, ""},
		{"no-parent", write(filepath.Join(elsewhere, "lone.md"), "---\negress:\n  routes:\n"+route("lone.example")+"---\n"), []string{"lone.example"}, ""},
		{"unknown-parent", write(filepath.Join(elsewhere, "orphan.md"), "---\nextends: nope\n---\n"), nil, `extends: no bottle named "nope"`},
		{"cycle", write(filepath.Join(elsewhere, "base.md"), "---\nextends: dev\n---\n"), nil, "extends: cycle base -> dev -> base"},
		{"agent", write(filepath.Join(elsewhere, "coder.md"), "---\nbottle: dev\nskills: [go]\n---\nYou write Go.\n"), nil, "an agent manifest, not a bottle: pass the bottle file it runs in (bottle: dev"},
		{"not-md", write(filepath.Join(elsewhere, "dev.yaml"), "---\n---\n"), nil, "not a bottle manifest: a bottle is a file NAME.md"},
		{"bad-name", write(filepath.Join(elsewhere, "Dev.md"), "---\n---\n"), nil, "not a bottle manifest"},
		{"no-frontmatter", write(filepath.Join(elsewhere, "plain.md"), "# notes\n"), nil, "a manifest starts with a YAML frontmatter block"},
		{"missing", filepath.Join(elsewhere, "gone.md"), nil, "reading bottle:"},
		{"folder", mkdir(t, filepath.Join(elsewhere, "dir.md")), nil, "is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := Discover(Config{Home: home})
			if err != nil {
				t.Fatal(err)
			}
			b, ds := ix.ResolveBottleFile(tt.file)
			if tt.wantErr != "" {
				if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), tt.wantErr) {
					t.Fatalf("ResolveBottleFile(%s) = %v; want an error holding %q", tt.file, ds, tt.wantErr)
				}
				if b != nil {
					t.Errorf("ResolveBottleFile(%s) returned a bottle along with errors", tt.file)
				}
				return
			}
			if ds.HasErrors() {
				t.Fatalf("ResolveBottleFile(%s): %v", tt.file, ds)
			}
			var hosts []string
			for _, r := range b.Egress.Routes {
				hosts = append(hosts, r.Host)
			}
			if d := cmp.Diff(tt.hosts, hosts); d != "" {
				t.Errorf("ResolveBottleFile(%s) hosts (-want +got):\n%s", tt.file, d)
			}
			if b.Name != stem(tt.file) || b.File != tt.file {
				t.Errorf("ResolveBottleFile(%s) = bottle %q from %s", tt.file, b.Name, b.File)
			}
		})
	}
}

// TestResolveBottleFileAsStart checks a bottle read from its file
// resolves to what start resolves it to by name.
func TestResolveBottleFileAsStart(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(BottlesDir(home), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"base": "---\nenv:\n  A: one\negress:\n  routes:\n    - host: base.example\n      dlp: {outbound_detectors: false, outbound_on_match: block}\n---\n",
		"dev":  "---\nextends: base\nenv:\n  B: two\negress:\n  log: 2\n  routes:\n    - host: dev.example\n      matches:\n        - methods: [GET]\n---\n",
	}
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(BottlesDir(home), n+".md"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := Discover(Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	byName, ds := ix.ResolveBottle("dev")
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	byName.Extends = nil
	ix2, err := Discover(Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	byFile, ds := ix2.ResolveBottleFile(filepath.Join(BottlesDir(home), "dev.md"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if d := cmp.Diff(byName, byFile, cmp.AllowUnexported(Bottle{})); d != "" {
		t.Errorf("ResolveBottleFile differs from ResolveBottle (-name +file):\n%s", d)
	}
}

func mkdir(t *testing.T, p string) string {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
