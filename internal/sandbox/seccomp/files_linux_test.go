package seccomp

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileCases make set-id files and device nodes under the filter. The
// child runs as whoever runs the test (root in CI), so without the
// filter each refused call would succeed.
var fileCases = []childCase{
	{"chmod_setuid", inTemp(func(f string) error { return unix.Chmod(f, 0o4755) }), "EPERM"},
	{"chmod_setgid", inTemp(func(f string) error { return unix.Chmod(f, 0o2755) }), "EPERM"},
	{"chmod_plain", inTemp(func(f string) error { return unix.Chmod(f, 0o1755) }), "ok"},
	{"fchmod_setuid", inTemp(func(f string) error {
		fd, err := unix.Open(f, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Fchmod(fd, 0o4711)
	}), "EPERM"},
	{"fchmodat_setgid", inTemp(func(f string) error { return unix.Fchmodat(unix.AT_FDCWD, f, 0o2711, 0) }), "EPERM"},
	{"fchmodat2_setuid", inTemp(func(f string) error {
		return errno(rawPath(unix.SYS_FCHMODAT2, f, 0o4755, unix.AT_SYMLINK_NOFOLLOW))
	}), "EPERM"},
	{"openat_creat_setuid", inTemp(func(f string) error { return create(f+"-new", unix.O_CREAT|unix.O_WRONLY, 0o4755) }), "EPERM"},
	{"openat_creat_setgid_high_bits", inTemp(func(f string) error {
		return errno(rawOpenat(f+"-new", unix.O_CREAT|unix.O_WRONLY, 1<<40|0o2755))
	}), "EPERM"},
	{"openat_creat_plain", inTemp(func(f string) error { return create(f+"-new", unix.O_CREAT|unix.O_WRONLY, 0o755) }), "ok"},
	{"openat_no_creat_ignores_mode", inTemp(func(f string) error { return create(f, unix.O_RDONLY, 0o4755) }), "ok"},
	{"openat_tmpfile_setuid", inTemp(func(f string) error {
		return create(filepath.Dir(f), unix.O_TMPFILE|unix.O_WRONLY, 0o4755)
	}), "EPERM"},
	{"mknodat_char", inTemp(func(f string) error {
		return unix.Mknodat(unix.AT_FDCWD, f+"-null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	}), "EPERM"},
	{"mknodat_block", inTemp(func(f string) error {
		return unix.Mknodat(unix.AT_FDCWD, f+"-blk", unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0)))
	}), "EPERM"},
	{"mknodat_regular_setuid", inTemp(func(f string) error { return unix.Mknodat(unix.AT_FDCWD, f+"-reg", unix.S_IFREG|0o4755, 0) }), "EPERM"},
	{"mknodat_fifo", inTemp(func(f string) error { return unix.Mknodat(unix.AT_FDCWD, f+"-fifo", unix.S_IFIFO|0o600, 0) }), "ok"},
	{"mknodat_socket", inTemp(func(f string) error { return unix.Mknodat(unix.AT_FDCWD, f+"-sock", unix.S_IFSOCK|0o600, 0) }), "ok"},
	{"openat2", inTemp(func(f string) error {
		how := unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY, Mode: 0o4755}
		fd, err := unix.Openat2(unix.AT_FDCWD, f+"-new", &how)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}), "ENOSYS"},
	{"write_file", inTemp(func(f string) error { return os.WriteFile(f+"-new", []byte("x"), 0o644) }), "ok"},
}

// inTemp runs op on a fresh regular file in a temporary folder and names
// its outcome.
func inTemp(op func(file string) error) func() string {
	return func() string {
		dir, err := os.MkdirTemp("", "bb-seccomp-")
		if err != nil {
			return err.Error()
		}
		defer os.RemoveAll(dir)
		f := filepath.Join(dir, "f")
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			return err.Error()
		}
		return result(op(f))
	}
}

func create(path string, flags int, mode uint32) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, mode)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// errno turns a raw call's errno into an error, nil for success.
func errno(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// rawPath makes a call (dirfd AT_FDCWD, path, a, b).
func rawPath(nr uintptr, path string, a, b uintptr) unix.Errno {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return unix.EINVAL
	}
	_, _, e := unix.Syscall6(nr, ^uintptr(99), uintptr(unsafe.Pointer(p)), a, b, 0, 0)
	return e
}

// rawOpenat calls openat with a mode that may carry upper bits the
// kernel ignores.
func rawOpenat(path string, flags int, mode uint64) unix.Errno {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return unix.EINVAL
	}
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, ^uintptr(99), uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_CLOEXEC), uintptr(mode), 0, 0)
	if e == 0 {
		unix.Close(int(fd))
	}
	return e
}

func unsafePointer(p *byte) unsafe.Pointer { return unsafe.Pointer(p) }

// fileFilterTests are verdicts on the file rules that need no file.
func fileFilterTests(t *testing.T) []filterTest {
	return []filterTest{
		{"fchmod_plain", sys(t, unix.SYS_FCHMOD, 3, 0o755), allow},
		{"fchmod_setuid", sys(t, unix.SYS_FCHMOD, 3, 0o4755), eperm},
		{"fchmod_setgid_high_bits", sys(t, unix.SYS_FCHMOD, 3, 1<<33|0o2000), eperm},
		{"fchmodat_sticky", sys(t, unix.SYS_FCHMODAT, 0, 0, 0o1777), allow},
		{"fchmodat_setgid", sys(t, unix.SYS_FCHMODAT, 0, 0, 0o2775), eperm},
		{"fchmodat2_setuid", sys(t, unix.SYS_FCHMODAT2, 0, 0, 0o4000, unix.AT_SYMLINK_NOFOLLOW), eperm},
		{"openat_read", sys(t, unix.SYS_OPENAT, 0, 0, unix.O_RDONLY, 0o4755), allow},
		{"openat_creat", sys(t, unix.SYS_OPENAT, 0, 0, unix.O_CREAT|unix.O_WRONLY, 0o644), allow},
		{"openat_creat_setuid", sys(t, unix.SYS_OPENAT, 0, 0, unix.O_CREAT|unix.O_WRONLY, 0o4755), eperm},
		{"openat_creat_high_bits_setgid", sys(t, unix.SYS_OPENAT, 0, 0, 1<<32|unix.O_CREAT, 1<<32|0o2755), eperm},
		{"openat_tmpfile_setgid", sys(t, unix.SYS_OPENAT, 0, 0, unix.O_TMPFILE|unix.O_RDWR, 0o2700), eperm},
		{"openat_directory_setuid_mode", sys(t, unix.SYS_OPENAT, 0, 0, unix.O_DIRECTORY, 0o4755), allow},
		{"openat2", sys(t, unix.SYS_OPENAT2), enosys},
		{"mknodat_fifo", sys(t, unix.SYS_MKNODAT, 0, 0, unix.S_IFIFO|0o644), allow},
		{"mknodat_socket", sys(t, unix.SYS_MKNODAT, 0, 0, unix.S_IFSOCK|0o644), allow},
		{"mknodat_regular", sys(t, unix.SYS_MKNODAT, 0, 0, unix.S_IFREG|0o644), allow},
		{"mknodat_char", sys(t, unix.SYS_MKNODAT, 0, 0, unix.S_IFCHR|0o666, 0x103), eperm},
		{"mknodat_block", sys(t, unix.SYS_MKNODAT, 0, 0, unix.S_IFBLK|0o660), eperm},
		{"mknodat_regular_setgid", sys(t, unix.SYS_MKNODAT, 0, 0, unix.S_IFREG|0o2755), eperm},
		{"socket_unix", sys(t, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM), eperm},
		{"socket_unix_dgram_cloexec", sys(t, unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC), eperm},
		{"socket_unix_high_bits", sys(t, unix.SYS_SOCKET, 1<<32|unix.AF_UNIX, unix.SOCK_STREAM), eperm},
	}
}
