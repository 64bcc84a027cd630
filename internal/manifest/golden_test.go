package manifest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/cases/*.txtar")

// TestGolden runs each testdata/cases/*.txtar: the archive's files form a
// home (home/...) and working directory (cwd/...); its comment holds
// directives, one per line:
//
//	env NAME=VALUE      a host variable
//	resolve AGENT [BOTTLE...]   resolve and print the result as want.json
//	bottle NAME         resolve one bottle and print it as want.json
//	secret TEXT         TEXT must appear in no output
//
// Without resolve or bottle, every manifest is validated. Diagnostics go to
// want.err (absent when there are none).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden cases found")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runGolden(t, file)
		})
	}
}

func runGolden(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	env := map[string]string{}
	var cmd, secrets []string
	for line := range strings.SplitSeq(string(ar.Comment), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "env" && len(f) == 2:
			k, v, _ := strings.Cut(f[1], "=")
			env[k] = v
		case f[0] == "secret" && len(f) == 2:
			secrets = append(secrets, f[1])
		case f[0] == "resolve" || f[0] == "bottle":
			cmd = f
		default:
			t.Fatalf("unknown directive %q", line)
		}
	}
	var kept []txtar.File
	for _, f := range ar.Files {
		if f.Name == "want.err" || f.Name == "want.json" {
			continue
		}
		kept = append(kept, f)
		p := filepath.Join(root, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cwd := filepath.Join(root, "cwd")
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	ix, err := Discover(Config{
		Home:      filepath.Join(root, "home"),
		Cwd:       cwd,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		SkillDirs: []string{filepath.Join(root, "home", "skills")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ds Diagnostics
	var out any
	switch {
	case cmd == nil:
		ds = ix.Validate()
	case cmd[0] == "bottle" && len(cmd) == 2:
		b, bds := ix.ResolveBottle(cmd[1])
		ds = append(ix.Diagnostics(), bds...)
		if !bds.HasErrors() {
			ix.checkBottle(b, &ds)
			out = b
		}
	case cmd[0] == "resolve" && len(cmd) >= 2:
		res, rds := ix.Resolve(cmd[1], cmd[2:])
		ds = append(ix.Diagnostics(), rds...)
		if res != nil {
			out = res
		}
	default:
		t.Fatalf("bad directive %q", cmd)
	}
	gotErr := ""
	for _, d := range ds.Sort() {
		if d.Pos.File != "" && d.Pos.Line == 0 && d.Severity == SevError {
			t.Errorf("error without a line: %s", d)
		}
		gotErr += d.String() + "\n"
	}
	gotErr = strings.ReplaceAll(gotErr, root+string(filepath.Separator), "")
	gotJSON := ""
	if out != nil {
		j, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		gotJSON = strings.ReplaceAll(string(j), root+string(filepath.Separator), "") + "\n"
	}
	for _, s := range secrets {
		if strings.Contains(gotErr+gotJSON, s) {
			t.Errorf("output shows the secret %q:\n%s%s", s, gotErr, gotJSON)
		}
	}
	if *update {
		if gotErr != "" {
			kept = append(kept, txtar.File{Name: "want.err", Data: []byte(gotErr)})
		}
		if gotJSON != "" {
			kept = append(kept, txtar.File{Name: "want.json", Data: []byte(gotJSON)})
		}
		ar.Files = kept
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := map[string]string{}
	for _, f := range ar.Files {
		want[f.Name] = string(f.Data)
	}
	if diff := cmp.Diff(want["want.err"], gotErr); diff != "" {
		t.Errorf("diagnostics mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want["want.json"], gotJSON); diff != "" {
		t.Errorf("resolved output mismatch (-want +got):\n%s", diff)
	}
}

// TestGoldenCoverage keeps the case count honest: the manifest rules need
// both valid and invalid examples.
func TestGoldenCoverage(t *testing.T) {
	files, _ := filepath.Glob("testdata/cases/*.txtar")
	var valid, invalid int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if hasErrorLine(data) {
			invalid++
		} else {
			valid++
		}
	}
	if valid < 10 || invalid < 30 {
		t.Errorf("golden cases: %d valid, %d invalid; want at least 10 and 30", valid, invalid)
	}
}

func hasErrorLine(data []byte) bool {
	_, after, ok := bytes.Cut(data, []byte("-- want.err --\n"))
	if !ok {
		return false
	}
	after, _, _ = bytes.Cut(after, []byte("\n-- "))
	for l := range bytes.SplitSeq(after, []byte("\n")) {
		if len(l) > 0 && !bytes.Contains(l, []byte(": warning: ")) {
			return true
		}
	}
	return false
}
