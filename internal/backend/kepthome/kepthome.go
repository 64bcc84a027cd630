// Package kepthome prepares a home kept from one start of a bottle to the
// next (backend.Spec.HomeDir) for the files a start provisions: it holds
// what the agent left, links among it.
package kepthome

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Clear removes what stands at p below root so that creating p follows no
// link: the first of its folders that is not a folder (a link, a file),
// or else whatever is at p itself (a link, a hard link to another file, a
// folder). The folders that are folders stay. Every step is taken inside
// root (os.Root), so that a link swapped in meanwhile leads nowhere
// outside it; it should still run while nothing of the bottle runs, or
// the agent could put a link back before p is written.
func Clear(root, p string) error {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("%s is not below %s", p, root)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	at := ""
	parts := strings.Split(rel, string(filepath.Separator))
	for i, part := range parts {
		at = filepath.Join(at, part)
		fi, err := r.Lstat(at)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if i < len(parts)-1 && fi.IsDir() {
			continue
		}
		return r.RemoveAll(at)
	}
	return nil
}
