package fds

import (
	"errors"
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// fdDir lists this process's open descriptors.
const fdDir = "/proc/self/fd"

// CloseOnExec marks every open descriptor from first up close-on-exec,
// so that no program this process runs gets one it did not pass on
// purpose (exec.Cmd's ExtraFiles, dup'ed in the child after this).
// Descriptors stay usable by this process.
func CloseOnExec(first int) error {
	if first < 0 {
		return fmt.Errorf("descriptor %d: want 0 or more", first)
	}
	err := unix.CloseRange(uint(first), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11 lack the flag (EINVAL) or the call (ENOSYS).
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("marking descriptors close-on-exec: %w", err)
	}
	return closeOnExecByList(first)
}
