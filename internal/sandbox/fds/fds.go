// Package fds keeps a process's file descriptors out of the programs it
// runs. A Go program opens its own descriptors close-on-exec, but one it
// inherits (from a shell, an IDE, a careless launcher) is passed on to
// every child it starts: a bottle's command must never get one.
package fds

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// First is the lowest descriptor a bottle's processes may not inherit:
// only standard input, output and error go through.
const First = 3

// closeOnExecByList is CloseOnExec without close_range.
func closeOnExecByList(first int) error {
	return eachOpen(first, func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		return err
	})
}

// eachOpen calls f for every open descriptor from first up, as listed in
// fdDir (whose own descriptor the list also shows, harmlessly).
func eachOpen(first int, f func(fd int) error) error {
	dir, err := os.Open(fdDir)
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
