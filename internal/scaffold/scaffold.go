// Package scaffold writes the starter manifests of `bot-bottle init`: base
// bottles for each provider and an example agent. It never overwrites a
// file that exists.
package scaffold

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

//go:embed files
var files embed.FS

// Result lists what Write did, as paths relative to the home.
type Result struct {
	Created []string
	Kept    []string
}

// Write creates the starter manifests under home, keeping any file that
// already exists.
func Write(home string) (Result, error) {
	var res Result
	err := fs.WalkDir(files, "files", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := path.Clean(p[len("files/"):])
		dst := filepath.Join(home, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			res.Kept = append(res.Kept, rel)
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			_ = f.Close()
			return fmt.Errorf("writing %s: %w", dst, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
		res.Created = append(res.Created, rel)
		return nil
	})
	return res, err
}
