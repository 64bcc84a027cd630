//go:build linux

package native

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// maxCommit bounds the archive of a commit: the agent decides its size.
const maxCommit = 4 << 30

// commitPrefix starts the name of a commit's archive in the state folder.
const commitPrefix = "commit-"

// Commit implements backend.Committer. What a native bottle writes besides
// its workspace is its home and /tmp (the rest is the host's, read-only):
// tar, run in the running bottle as the agent, archives both into the
// bottle's state folder, and the reference is the archive's path. A
// later start extracts it as the agent before the command runs.
func (d *Driver) Commit(ctx context.Context, slug string) (string, error) {
	if d.cfg.StateRoot == "" || strings.ContainsAny(slug, "/.") || slug == "" {
		return "", fmt.Errorf("%w: %q", backend.ErrNotFound, slug)
	}
	dir := filepath.Join(d.cfg.StateRoot, slug)
	f, err := os.CreateTemp(dir, commitPrefix+"*.partial")
	if err != nil {
		return "", fmt.Errorf("committing bottle %s: %w", slug, err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	h := sha256.New()
	lw := &limitWriter{w: io.MultiWriter(f, h), n: maxCommit}
	var stderr strings.Builder
	code, err := d.Exec(ctx, slug, backend.Exec{
		// What is in the two folders, not the folders themselves,
		// whose owner and mode are the bottle's to set.
		Cmd:   []string{"sh", "-c", `cd / && find "${HOME#/}" tmp -mindepth 1 -maxdepth 1 -print0 | tar --null -T - -cf -`},
		Stdio: backend.Stdio{Stdout: lw, Stderr: &stderr}, WorkDir: "/",
	})
	cerr := f.Close()
	switch {
	case err != nil:
		return "", fmt.Errorf("committing bottle %s: %w", slug, err)
	case lw.over:
		return "", fmt.Errorf("committing bottle %s: its home and /tmp hold over %d GiB; clear them out first", slug, maxCommit>>30)
	case code > 1: // 1: a file changed while it was read
		return "", fmt.Errorf("committing bottle %s: tar exited %d: %s", slug, code, strings.TrimSpace(stderr.String()))
	case cerr != nil:
		return "", cerr
	}
	ref := filepath.Join(dir, commitPrefix+hex.EncodeToString(h.Sum(nil))[:16]+".tar")
	if err := os.Rename(f.Name(), ref); err != nil {
		return "", err
	}
	return ref, nil
}

// Forget implements backend.Committer.
func (d *Driver) Forget(_ context.Context, ref string) error {
	if err := d.checkCommit(ref); err != nil {
		return err
	}
	if err := os.Remove(ref); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// checkCommit refuses a reference that is not a commit's archive in a
// state folder of this driver's.
func (d *Driver) checkCommit(ref string) error {
	dir, name := filepath.Split(filepath.Clean(ref))
	if d.cfg.StateRoot == "" || filepath.Dir(filepath.Clean(dir)) != filepath.Clean(d.cfg.StateRoot) || !strings.HasPrefix(name, commitPrefix) || !strings.HasSuffix(name, ".tar") {
		return fmt.Errorf("%s is not a native commit of %s", ref, d.cfg.StateRoot)
	}
	return nil
}

// limitWriter writes at most n bytes to w, then fails.
type limitWriter struct {
	w    io.Writer
	n    int64
	over bool
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if int64(len(b)) > l.n {
		l.over = true
		return 0, errors.New("the commit is too large")
	}
	l.n -= int64(len(b))
	return l.w.Write(b)
}
