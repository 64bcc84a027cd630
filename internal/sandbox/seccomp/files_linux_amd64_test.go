package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// legacyCases make set-id files and devices through the calls amd64
// keeps besides the *at forms.
var legacyCases = []childCase{
	{"chmod_raw_setuid", inTemp(func(f string) error { return errno(rawLegacy(unix.SYS_CHMOD, f, 0o4755, 0)) }), "EPERM"},
	{"open_creat_setuid", inTemp(func(f string) error {
		return errno(rawLegacy(unix.SYS_OPEN, f+"-new", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o4755))
	}), "EPERM"},
	{"creat_setgid", inTemp(func(f string) error { return errno(rawLegacy(unix.SYS_CREAT, f+"-new", 0o2755, 0)) }), "EPERM"},
	{"mknod_char", inTemp(func(f string) error {
		return errno(rawLegacy(unix.SYS_MKNOD, f+"-null", unix.S_IFCHR|0o666, uintptr(unix.Mkdev(1, 3))))
	}), "EPERM"},
	{"mknod_fifo", inTemp(func(f string) error { return errno(rawLegacy(unix.SYS_MKNOD, f+"-fifo", unix.S_IFIFO|0o600, 0)) }), "ok"},
}

// rawLegacy makes a call (path, a, b), closing any fd it returns.
func rawLegacy(nr uintptr, path string, a, b uintptr) unix.Errno {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return unix.EINVAL
	}
	r, _, e := unix.Syscall(nr, uintptr(unsafePointer(p)), a, b)
	if e == 0 && (nr == unix.SYS_OPEN || nr == unix.SYS_CREAT) {
		unix.Close(int(r))
	}
	return e
}

func legacyFilterTests(t *testing.T) []filterTest {
	return []filterTest{
		{"chmod_plain", sys(t, unix.SYS_CHMOD, 0, 0o755), allow},
		{"chmod_setuid", sys(t, unix.SYS_CHMOD, 0, 0o4755), eperm},
		{"chmod_setgid", sys(t, unix.SYS_CHMOD, 0, 0o2755), eperm},
		{"open_creat_plain", sys(t, unix.SYS_OPEN, 0, unix.O_CREAT|unix.O_WRONLY, 0o755), allow},
		{"open_read_setuid_mode", sys(t, unix.SYS_OPEN, 0, unix.O_RDONLY, 0o4755), allow},
		{"open_creat_setuid", sys(t, unix.SYS_OPEN, 0, unix.O_CREAT|unix.O_WRONLY, 0o4755), eperm},
		{"open_tmpfile_setgid", sys(t, unix.SYS_OPEN, 0, unix.O_TMPFILE|unix.O_WRONLY, 0o2755), eperm},
		{"creat_plain", sys(t, unix.SYS_CREAT, 0, 0o644), allow},
		{"creat_setuid", sys(t, unix.SYS_CREAT, 0, 0o4755), eperm},
		{"mknod_fifo", sys(t, unix.SYS_MKNOD, 0, unix.S_IFIFO|0o644), allow},
		{"mknod_char", sys(t, unix.SYS_MKNOD, 0, unix.S_IFCHR|0o644, 0x103), eperm},
		{"mknod_block", sys(t, unix.SYS_MKNOD, 0, unix.S_IFBLK|0o644), eperm},
		{"mknod_regular_setuid", sys(t, unix.SYS_MKNOD, 0, unix.S_IFREG|0o4755), eperm},
	}
}
