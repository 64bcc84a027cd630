package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary files to both manifest parsers: they must never
// panic, and every diagnostic must carry a file, line and column.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/cases/*.txtar")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		// Each archive section that is a manifest makes a seed.
		for part := range strings.SplitSeq(string(data), "\n-- ") {
			if _, body, ok := strings.Cut(part, ".md --\n"); ok {
				f.Add([]byte(body))
			}
		}
	}
	f.Add([]byte("---\nenv: {A: &x 1, B: *x}\n<<: {c: d}\n!!str k: v\n---\n"))
	f.Add([]byte("---\negress:\n  routes:\n    - host: [a\n---\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("---\n...\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func(*Diagnostics){
			func(ds *Diagnostics) { ParseBottle("b", "b.md", data, ds) },
			func(ds *Diagnostics) { ParseAgent("a", "a.md", data, ds) },
		} {
			var ds Diagnostics
			parse(&ds)
			for _, d := range ds {
				if d.Pos.File == "" || d.Pos.Line < 1 || d.Pos.Col < 1 {
					t.Fatalf("diagnostic without a position: %q", d.String())
				}
				if d.Msg == "" {
					t.Fatalf("diagnostic without a message at %s", d.Pos)
				}
			}
		}
	})
}
