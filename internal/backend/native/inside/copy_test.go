//go:build linux

package inside

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

const secret = "host-only-secret-9d2e"

// plant makes a folder outside the workspace holding a secret file.
func plant(t *testing.T) (dir, file string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, file
}

// listing describes every entry under root: its type, mode bits, link
// target or content.
func listing(t *testing.T, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "link " + target
		case d.IsDir():
			got[rel] = "dir"
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = info.Mode().String() + " " + string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// leaks reports the regular files under root that hold the secret.
func leaks(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	for p, v := range listing(t, root) {
		if !strings.HasPrefix(v, "link ") && strings.Contains(v, secret) {
			found = append(found, p)
		}
	}
	return found
}

func TestCopyTreeKeepsLinksAsLinks(t *testing.T) {
	outside, secretFile := plant(t)
	ws := t.TempDir()
	for p, data := range map[string]string{"README": "hello\n", "src/main.go": "package main\n", "bin/run": "#!/bin/sh\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(ws, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(ws, "bin/run"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"abs-secret":      secretFile,
		"rel-secret":      strings.Repeat("../", 10) + strings.TrimPrefix(secretFile, "/"),
		"outside-dir":     outside,
		"src/inside-link": "../README",
	} {
		if err := os.Symlink(target, filepath.Join(ws, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(ws, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := copyTree(dst, ws); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		".":               "dir",
		"README":          "-rw-r--r-- hello\n",
		"bin":             "dir",
		"bin/run":         "-rwxr-xr-x #!/bin/sh\n",
		"src":             "dir",
		"src/main.go":     "-rw-r--r-- package main\n",
		"src/inside-link": "link ../README",
		"abs-secret":      "link " + secretFile,
		"rel-secret":      "link " + strings.Repeat("../", 10) + strings.TrimPrefix(secretFile, "/"),
		"outside-dir":     "link " + outside,
	}
	// The umask decides the group and other write bits.
	got := listing(t, dst)
	for k, v := range got {
		got[k] = strings.Replace(strings.Replace(v, "-rw-rw-rw-", "-rw-r--r--", 1), "-rwxrwxrwx", "-rwxr-xr-x", 1)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copy (-want +got):\n%s", diff)
	}
}

// TestCopyTreeRace swaps, while the copy runs, a file and a folder of
// the workspace for links to a host-only secret and its folder, as an
// agent's earlier process or anything writing the workspace could: the
// secret must never be copied.
func TestCopyTreeRace(t *testing.T) {
	outside, secretFile := plant(t)
	ws := t.TempDir()
	var stop atomic.Bool
	var wg sync.WaitGroup
	swap := func(name string, makeReal func(tmp string) error, target string) {
		defer wg.Done()
		p := filepath.Join(ws, name)
		for i := 0; !stop.Load(); i++ {
			tmp := filepath.Join(ws, ".tmp-"+name)
			_ = os.RemoveAll(tmp)
			var err error
			if i%2 == 0 {
				err = makeReal(tmp)
			} else {
				err = os.Symlink(target, tmp)
			}
			if err != nil {
				t.Error(err)
				return
			}
			// A folder cannot be renamed over a link or a non-empty
			// folder: make room first.
			_ = os.RemoveAll(p)
			_ = os.Rename(tmp, p)
		}
	}
	wg.Add(2)
	go swap("file", func(tmp string) error { return os.WriteFile(tmp, []byte("ordinary\n"), 0o644) }, secretFile)
	go swap("dir", func(tmp string) error {
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, "x"), []byte("ordinary\n"), 0o644)
	}, outside)
	var copies, sawFile int
	for range 400 {
		dst := t.TempDir()
		if err := copyTree(dst, ws); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("copy %d: %v", copies, err)
		}
		copies++
		if found := leaks(t, dst); len(found) > 0 {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("copy %d holds the host's secret in %v", copies, found)
		}
		if data, err := os.ReadFile(filepath.Join(dst, "file")); err == nil && bytes.Equal(data, []byte("ordinary\n")) {
			sawFile++
		}
	}
	stop.Store(true)
	wg.Wait()
	// The swapping did reach the copies: some saw the real file.
	if sawFile == 0 {
		t.Fatalf("no copy of %d saw the ordinary file; the race proves nothing", copies)
	}
	t.Logf("%d copies, %d with the ordinary file", copies, sawFile)
}
