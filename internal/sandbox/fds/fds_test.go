package fds

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// leak opens a file and a pipe without close-on-exec, as a process
// inherits them from a shell, and returns their descriptors.
func leak(t *testing.T) []int {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "leaked"))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(); _ = r.Close(); _ = w.Close() })
	var fds []int
	for _, file := range []*os.File{f, r, w} {
		if _, err := unix.FcntlInt(file.Fd(), unix.F_SETFD, 0); err != nil {
			t.Fatal(err)
		}
		fds = append(fds, int(file.Fd()))
	}
	return fds
}

// childSees reports which of fds a child process has open.
func childSees(t *testing.T, fds []int) []int {
	t.Helper()
	var seen []int
	for _, fd := range fds {
		if exec.Command("sh", "-c", fmt.Sprintf("test -e /proc/self/fd/%d", fd)).Run() == nil {
			seen = append(seen, fd)
		}
	}
	return seen
}

func TestCloseOnExec(t *testing.T) {
	for _, tc := range []struct {
		name string
		mark func(first int) error
	}{
		{"close_range", CloseOnExec},
		{"listing /proc/self/fd", closeOnExecByList},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds := leak(t)
			if seen := childSees(t, fds); !slices.Equal(seen, fds) {
				t.Fatalf("before: a child sees %v of %v; the test proves nothing", seen, fds)
			}
			got, err := Inheritable(First)
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range fds {
				if !slices.Contains(got, fd) {
					t.Fatalf("Inheritable = %v, want it to hold %d", got, fd)
				}
			}
			if err := tc.mark(First); err != nil {
				t.Fatal(err)
			}
			if got, err := Inheritable(First); err != nil || len(got) != 0 {
				t.Errorf("after: Inheritable = %v, %v; want none", got, err)
			}
			if seen := childSees(t, fds); len(seen) != 0 {
				t.Errorf("after: a child still sees %v", seen)
			}
			// The process itself still uses them.
			if _, err := unix.Write(fds[2], []byte("x")); err != nil {
				t.Errorf("the pipe is no longer usable here: %v", err)
			}
			// Standard streams stay inheritable.
			if flags, err := unix.FcntlInt(1, unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
				t.Errorf("stdout flags %d, %v: want inheritable", flags, err)
			}
		})
	}
}

func TestCloseOnExecRefusesNegative(t *testing.T) {
	if err := CloseOnExec(-1); err == nil {
		t.Fatal("CloseOnExec(-1) succeeded")
	}
}
