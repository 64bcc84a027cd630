package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// archOffset is where struct seccomp_data keeps the audit architecture.
const archOffset = 4

// Install sets no_new_privs and installs the filter on every thread of the
// calling process. It cannot be undone: after it, the process and anything
// it execs stay under the filter, and set-user-ID bits no longer grant
// privilege. Calling it twice stacks a second copy of the filter.
func Install() error {
	if err := Available(); err != nil {
		return err
	}
	prog, err := program()
	if err != nil {
		return err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("assembling seccomp filter: %w", err)
	}
	if len(raw) > unix.BPF_MAXINSNS {
		return fmt.Errorf("assembling seccomp filter: %d instructions, the kernel takes %d", len(raw), unix.BPF_MAXINSNS)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{
		Len:    uint16(len(filter)), //nolint:gosec // G115: at most BPF_MAXINSNS (4096), checked above.
		Filter: &filter[0],
	}

	// no_new_privs is per thread, and the kernel refuses an unprivileged
	// filter from a thread without it, so both calls must run on one
	// thread. TSYNC then copies the filter and no_new_privs to the others.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	tid, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))) //nolint:gosec // G103: the kernel reads the program; fprog and filter stay live until it returns.
	runtime.KeepAlive(filter)
	if errno != 0 {
		return fmt.Errorf("installing seccomp filter: %w", errno)
	}
	if tid != 0 {
		return fmt.Errorf("installing seccomp filter: thread %d is under a different filter and cannot be synchronized", tid)
	}
	return nil
}

// Available reports whether this kernel and architecture can take the
// filter [Install] loads. Its errors wrap [errors.ErrUnsupported] and say
// what is missing.
func Available() error {
	if _, err := nativeArch(); err != nil {
		return err
	}
	// With a NULL program, seccomp fails after it has accepted filter mode,
	// with EFAULT; that failure is the answer we want.
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, 0)
	switch errno {
	case unix.EFAULT:
	case unix.ENOSYS:
		return fmt.Errorf("seccomp: %w: the kernel has no seccomp system call (needs Linux 3.17 with CONFIG_SECCOMP)", errors.ErrUnsupported)
	case unix.EINVAL:
		return fmt.Errorf("seccomp: %w: the kernel has no seccomp filters (needs CONFIG_SECCOMP_FILTER)", errors.ErrUnsupported)
	default:
		return fmt.Errorf("seccomp: %w: probing filter mode: %w (is an outer sandbox denying seccomp?)", errors.ErrUnsupported, errno)
	}
	action := uint32(unix.SECCOMP_RET_KILL_PROCESS)
	_, _, errno = unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0,
		uintptr(unsafe.Pointer(&action))) //nolint:gosec // G103: the kernel reads one uint32 during the call.
	if errno != 0 {
		return fmt.Errorf("seccomp: %w: the kernel cannot kill a process from a filter (needs Linux 4.14): %w", errors.ErrUnsupported, errno)
	}
	return nil
}

// nativeArch returns the architecture the filter is built for: the one
// this binary runs as.
func nativeArch() (*arch.Info, error) {
	switch runtime.GOARCH {
	case "amd64":
		return arch.X86_64, nil
	case "arm64":
		return arch.AARCH64, nil
	default:
		return nil, fmt.Errorf("seccomp: %w: the filter is built for amd64 and arm64, not %s", errors.ErrUnsupported, runtime.GOARCH)
	}
}

// program returns the BPF program Install loads: a check that kills calls
// made through any other architecture's ABI, then [Policy].
//
// Security: the library's own architecture check jumps to the default
// action, allow, so without the first three instructions an amd64 process
// could run any denied call through int 0x80.
func program() ([]bpf.Instruction, error) {
	native, err := nativeArch()
	if err != nil {
		return nil, err
	}
	p := Policy()
	body, err := p.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assembling seccomp policy: %w", err)
	}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: archOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(native.ID), SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_KILL_PROCESS},
	}
	return append(prog, body...), nil
}
