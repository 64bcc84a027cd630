package launch

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFile serialises the processes that retire one bottle (the CLI that
// stops it and the native keeper that retires it as it ends): one reads
// and rewrites the record at a time, so that a key is revoked once.
const lockFile = "state.lock"

// lockState takes the state folder's lock of slug, waiting for it, and
// returns its release. A bottle without a state folder has nothing to
// lock.
func lockState(home, slug string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(StateDir(home, slug), lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		if os.IsNotExist(err) {
			return func() {}, nil
		}
		return nil, fmt.Errorf("locking the state of %s: %w", slug, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking the state of %s: %w", slug, err)
	}
	return func() { _ = f.Close() }, nil
}
