//go:build !linux

package seccomp

import (
	"errors"
	"fmt"
	"runtime"
)

// Install fails everywhere but Linux, which has no seccomp.
func Install() error {
	return Available()
}

// Available reports that seccomp exists only on Linux. Its error wraps
// [errors.ErrUnsupported].
func Available() error {
	return fmt.Errorf("seccomp: %w on %s", errors.ErrUnsupported, runtime.GOOS)
}
