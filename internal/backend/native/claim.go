//go:build linux

package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/proc"
)

// ownerMeta is what list shows of a bottle another process owns
// (bottle.json in its folder).
type ownerMeta struct {
	Agent   string    `json:"agent"`
	Bottles []string  `json:"bottles"`
	Created time.Time `json:"created"`
	// Detached bottles are held by their supervisor, not by a
	// bot-bottle someone runs.
	Detached bool `json:"detached,omitempty"`
	// OwnerPID is the spec's: the bot-bottle that owns the bottle, or
	// for a detached one the one that started it. The owner file names
	// the process holding the bottle's processes, which may differ.
	OwnerPID int `json:"owner_pid,omitempty"`
}

// claim creates slug's native folder below its state folder and records
// this process as its holder. The folder's creation is the claim: a
// second start of the same slug finds it and is refused while its holder
// lives, and never takes over a running bottle; the folder of a holder
// that died is removed first.
func (d *Driver) claim(spec *backend.Spec) (string, error) {
	if err := os.MkdirAll(spec.StateDir, 0o700); err != nil {
		return "", fmt.Errorf("creating the state folder of %s: %w", spec.Slug, err)
	}
	dir := filepath.Join(spec.StateDir, "native")
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		pid := ownerPID(dir)
		switch {
		case pid == 0:
			// The holder is written right after the folder: this is a
			// start under way, or the remains of one that crashed.
			return "", fmt.Errorf("bottle %s is starting in another process, or was left half-created; 'bot-bottle stop %s' removes it", spec.Slug, spec.Slug)
		case proc.Alive(pid):
			return "", fmt.Errorf("bottle %s is already running (process %d holds it); stop it first or pick another name", spec.Slug, pid)
		}
		d.log.Debug("removing the folder of a bottle whose holder died", "slug", spec.Slug, "pid", pid)
		if err := errors.Join(removeGroup(dir), os.RemoveAll(dir)); err != nil {
			return "", fmt.Errorf("removing what is left of bottle %s: %w", spec.Slug, err)
		}
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil {
		return "", fmt.Errorf("creating the folder of bottle %s: %w", spec.Slug, err)
	}
	owner := spec.OwnerPID
	if owner <= 0 {
		owner = os.Getpid()
	}
	meta, err := json.Marshal(ownerMeta{Agent: spec.Agent, Bottles: spec.Bottles, Created: time.Now().UTC(), Detached: spec.Detached, OwnerPID: owner})
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o600)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "bottle.json"), meta, 0o600)
	}
	if err == nil {
		err = os.Mkdir(filepath.Join(dir, "root"), 0o700)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("creating the folder of bottle %s: %w", spec.Slug, err)
	}
	return dir, nil
}

// removeFolder ends and removes the bottle of a native folder another
// process holds, or whose holder died.
func removeFolder(dir string) error {
	stopOwner(dir)
	// The holder removes its bottle's group; one that died could not.
	return errors.Join(removeGroup(dir), os.RemoveAll(dir))
}

// sidecarServes reports whether the sidecar of the bottle in dir takes
// connections on its control socket.
func sidecarServes(dir string) bool {
	c, err := net.DialTimeout("unix", filepath.Join(dir, ctlSock), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
