// Package fds keeps a process's file descriptors out of the programs it
// runs. A Go program opens its own descriptors close-on-exec, but one it
// inherits (from a shell, an IDE, a careless launcher) is passed on to
// every child it starts: a bottle's command must never get one.
package fds

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// First is the lowest descriptor a bottle's processes may not inherit:
// only standard input, output and error go through.
const First = 3

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

// closeOnExecByList is CloseOnExec without close_range.
func closeOnExecByList(first int) error {
	return eachOpen(first, func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		return err
	})
}

// eachOpen calls f for every open descriptor from first up, as listed in
// /proc/self/fd (whose own descriptor the list also shows, harmlessly).
func eachOpen(first int, f func(fd int) error) error {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing descriptors: %w", err)
	}
	names, err := dir.Readdirnames(-1)
	_ = dir.Close()
	if err != nil {
		return fmt.Errorf("listing descriptors: %w", err)
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd < first {
			continue
		}
		// The listing's own descriptor is closed by now.
		if err := f(fd); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("descriptor %d: %w", fd, err)
		}
	}
	return nil
}

// Inheritable lists the open descriptors from first up that are not
// close-on-exec: what a program this process runs would get.
func Inheritable(first int) ([]int, error) {
	var open []int
	err := eachOpen(first, func(fd int) error {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return err
		}
		if flags&unix.FD_CLOEXEC == 0 {
			open = append(open, fd)
		}
		return nil
	})
	return open, err
}
