package dlp

import (
	"os"
	"path/filepath"
	"testing"
)

// corpus reads every file of testdata/inbound/<dir> (sources in
// testdata/inbound/SOURCES.md).
func corpus(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "inbound", dir, "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus in testdata/inbound/%s: %v", dir, err)
	}
	files := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = string(b)
	}
	return files
}

// TestInjectionCorpusAttacks: every real-world style injection is High.
func TestInjectionCorpusAttacks(t *testing.T) {
	for name, text := range corpus(t, "attack") {
		t.Run(name, func(t *testing.T) {
			if c, label := ScanInjection(text); c != High {
				t.Errorf("ScanInjection(%s) = %v %q, want high", name, c, label)
			}
		})
	}
}

// benignMedium are the documents of the benign corpus that hold an
// imperative credential request of their own, graded medium (logged,
// delivered); every other one must not be graded at all.
var benignMedium = map[string]string{
	"ssh-key-setup.md": `"paste it into the SSH keys page"`,
	"dotenv-guide.md":  "`print the environment with printenv`",
	"py-netrc.txt":     `"Dump the class data in the format of a .netrc file"`,
	"ssh.1.txt":        `"read the passphrase"`,
	"curl.1.txt":       `"extract the public key from the private key"`,
}

// TestInjectionCorpusBenign: ordinary documentation, much of it about
// keys, tokens, ~/.ssh and ignoring files, is never high, whole or in the
// windows a stream is scanned in, and medium only where listed.
func TestInjectionCorpusBenign(t *testing.T) {
	for name, text := range corpus(t, "benign") {
		t.Run(name, func(t *testing.T) {
			want := None
			if _, ok := benignMedium[name]; ok {
				want = Medium
			}
			if c, label := ScanInjection(text); c != want {
				t.Errorf("ScanInjection(%s) = %v %q, want %v", name, c, label, want)
			}
			const window, step = 4 << 10, 1 << 10
			for i := 0; i < len(text); i += step {
				if c, label := ScanInjection(text[i:min(i+window, len(text))]); c == High {
					t.Errorf("ScanInjection(%s[%d:]) = %v %q, want at most medium", name, i, c, label)
				}
			}
		})
	}
}
