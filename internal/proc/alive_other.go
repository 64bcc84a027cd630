//go:build !linux

package proc

import (
	"errors"
	"syscall"
)

// Alive reports whether the process pid runs. Without /proc it cannot tell
// a zombie from a live process, so it counts one as alive.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
