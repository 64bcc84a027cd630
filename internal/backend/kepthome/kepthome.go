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
// folder). The folders that are folders stay. It must run while nothing
// of the bottle runs, or the agent could put a link back.
func Clear(root, p string) error {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s is not below %s", p, root)
	}
	at := root
	parts := strings.Split(rel, string(filepath.Separator))
	for i, part := range parts {
		at = filepath.Join(at, part)
		fi, err := os.Lstat(at)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if i < len(parts)-1 && fi.IsDir() {
			continue
		}
		return os.RemoveAll(at)
	}
	return nil
}
