//go:build !linux

package fds

import "fmt"

// fdDir lists this process's open descriptors.
const fdDir = "/dev/fd"

// CloseOnExec marks every open descriptor from first up close-on-exec,
// so that no program this process runs gets one it did not pass on
// purpose. Without close_range, it walks the list.
func CloseOnExec(first int) error {
	if first < 0 {
		return fmt.Errorf("descriptor %d: want 0 or more", first)
	}
	return closeOnExecByList(first)
}
