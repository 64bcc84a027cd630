package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StateFolder is one bottle's state folder and when it was last written.
type StateFolder struct {
	Record Record
	// Touched is the newest modification time of its files: the end of
	// the bottle's audit log, roughly when the bottle ended.
	Touched time.Time
}

// StateFolders lists the state folders of home that hold a record.
func StateFolders(home string) []StateFolder {
	entries, _ := os.ReadDir(filepath.Join(home, "state"))
	var out []StateFolder
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rec, err := ReadRecord(home, e.Name())
		if err != nil {
			continue
		}
		out = append(out, StateFolder{Record: rec, Touched: touched(StateDir(home, e.Name()), rec.CreatedAt)})
	}
	return out
}

// touched is the newest modification time of dir's files (the lock
// excepted: taking it is not a use), at least since.
func touched(dir string, since time.Time) time.Time {
	t := since
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() == lockFile {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}

// RemoveState removes f's state folder, its audit log with it, under the
// folder's lock. It leaves a folder written since f was listed (the bottle
// was resumed) and refuses a record that still lists deploy keys: they
// must be revoked first.
func RemoveState(home string, f StateFolder) error {
	slug := f.Record.Slug
	unlock, err := lockState(home, slug)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := ReadRecord(home, slug)
	if err != nil {
		return err
	}
	if touched(StateDir(home, slug), rec.CreatedAt).After(f.Touched) {
		return fmt.Errorf("state of %s: written since cleanup looked; left", slug)
	}
	if len(rec.DeployKeys) > 0 {
		return fmt.Errorf("state of %s: deploy keys are not revoked yet; run bot-bottle cleanup again", slug)
	}
	if err := os.RemoveAll(StateDir(home, slug)); err != nil {
		return fmt.Errorf("removing the state of %s: %w", slug, err)
	}
	return nil
}
