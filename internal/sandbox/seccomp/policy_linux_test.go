package seccomp

import (
	"encoding/binary"
	"os"
	"regexp"
	"runtime"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Verdicts the filter returns, as the kernel reads them.
const (
	allow  = unix.SECCOMP_RET_ALLOW
	eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	kill   = unix.SECCOMP_RET_KILL_PROCESS
)

// Personality values; x/sys/unix does not define them.
const (
	perLinux32      = 0x0008
	addrNoRandomize = 0x0040000
	readImpliesExec = 0x0400000
)

// threadFlags are the clone flags glibc and the Go runtime use for a thread.
const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS |
	unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID

// call is one struct seccomp_data.
type call struct {
	arch uint32
	nr   uint32
	args [6]uint64
}

// sys returns a call of the native architecture.
func sys(t *testing.T, nr uintptr, args ...uint64) call {
	t.Helper()
	native, err := nativeArch()
	if err != nil {
		t.Skip(err)
	}
	c := call{arch: uint32(native.ID), nr: uint32(nr)}
	copy(c.args[:], args)
	return c
}

// data lays c out as the kernel would on a little-endian machine (amd64
// and arm64). The bpf VM loads words big-endian, so each 32-bit word is
// written big-endian where a little-endian kernel keeps it.
func (c call) data() []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], c.nr)
	binary.BigEndian.PutUint32(b[4:], c.arch)
	for i, a := range c.args {
		off := 16 + 8*i
		binary.BigEndian.PutUint32(b[off:], uint32(a))
		binary.BigEndian.PutUint32(b[off+4:], uint32(a>>32))
	}
	return b
}

// verdict runs the filter Install loads on c.
func verdict(t *testing.T, c call) uint32 {
	t.Helper()
	prog, err := program()
	if err != nil {
		t.Fatalf("program() error: %v", err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("bpf.NewVM(program()) error: %v", err)
	}
	got, err := vm.Run(c.data())
	if err != nil {
		t.Fatalf("running filter on %+v: %v", c, err)
	}
	return uint32(got)
}

// filterTest is one call and the verdict the filter must reach on it.
type filterTest struct {
	name string
	call call
	want uint32
}

func TestFilter(t *testing.T) {
	other := map[string]*arch.Info{"amd64": arch.I386, "arm64": arch.ARM}[runtime.GOARCH]
	if other == nil {
		t.Skipf("no filter for %s", runtime.GOARCH)
	}
	tests := []filterTest{
		{"getpid", sys(t, unix.SYS_GETPID), allow},
		{"mount", sys(t, unix.SYS_MOUNT), eperm},
		{"clone3", sys(t, unix.SYS_CLONE3), enosys},
		{"clone_thread", sys(t, unix.SYS_CLONE, threadFlags), allow},
		{"clone_fork", sys(t, unix.SYS_CLONE, uint64(unix.SIGCHLD)), allow},
		{"clone_vfork_pidfd", sys(t, unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_VFORK|unix.CLONE_PIDFD|uint64(unix.SIGCHLD)), allow},
		{"clone_newnet_high_bits", sys(t, unix.SYS_CLONE, 1<<40|unix.CLONE_NEWNET), eperm},
		{"unshare_fs_files", sys(t, unix.SYS_UNSHARE, unix.CLONE_FS|unix.CLONE_FILES), allow},
		{"personality_linux", sys(t, unix.SYS_PERSONALITY, perLinux), allow},
		{"personality_query", sys(t, unix.SYS_PERSONALITY, perQuery), allow},
		{"personality_linux32", sys(t, unix.SYS_PERSONALITY, perLinux32), eperm},
		{"personality_no_aslr", sys(t, unix.SYS_PERSONALITY, addrNoRandomize), eperm},
		{"personality_read_implies_exec", sys(t, unix.SYS_PERSONALITY, readImpliesExec), eperm},
		{"personality_high_bits", sys(t, unix.SYS_PERSONALITY, 1<<32), eperm},
		{"socket_inet", sys(t, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM), allow},
		{"socket_inet6", sys(t, unix.SYS_SOCKET, unix.AF_INET6, unix.SOCK_DGRAM), allow},
		{"socket_inet_high_bits", sys(t, unix.SYS_SOCKET, 1<<32|unix.AF_INET, unix.SOCK_STREAM), eperm},
		{"socket_netlink_route", sys(t, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE), allow},
		{"socket_netlink_route_high_bits", sys(t, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, 1<<32), eperm},
		{"socket_netlink_netfilter", sys(t, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_NETFILTER), eperm},
		{"socket_netlink_audit", sys(t, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT), eperm},
		{"socket_netlink_sock_diag", sys(t, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_SOCK_DIAG), eperm},
		{"socket_netlink_uevent", sys(t, unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_KOBJECT_UEVENT), eperm},
		{"socket_packet", sys(t, unix.SYS_SOCKET, unix.AF_PACKET, unix.SOCK_RAW), eperm},
		{"socket_vsock", sys(t, unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM), eperm},
		{"socket_bluetooth", sys(t, unix.SYS_SOCKET, unix.AF_BLUETOOTH, unix.SOCK_STREAM), eperm},
		{"socket_alg", sys(t, unix.SYS_SOCKET, unix.AF_ALG, unix.SOCK_SEQPACKET), eperm},
		{"socket_xdp", sys(t, unix.SYS_SOCKET, unix.AF_XDP, unix.SOCK_RAW), eperm},
		{"socketpair_unix", sys(t, unix.SYS_SOCKETPAIR, unix.AF_UNIX, unix.SOCK_STREAM), allow},
		{"socketpair_packet", sys(t, unix.SYS_SOCKETPAIR, unix.AF_PACKET, unix.SOCK_RAW), eperm},
		{"other_arch_getpid", call{arch: uint32(other.ID), nr: uint32(other.SyscallNames["getpid"])}, kill},
		{"other_arch_mount", call{arch: uint32(other.ID), nr: uint32(other.SyscallNames["mount"])}, kill},
		{"unknown_arch", call{arch: 0xdead, nr: uint32(unix.SYS_GETPID)}, kill},
	}
	tests = append(tests, fileFilterTests(t)...)
	tests = append(tests, legacyFilterTests(t)...)
	if runtime.GOARCH == "amd64" {
		// The library answers the x32 ABI, which shares amd64's audit
		// architecture, with ENOSYS.
		tests = append(tests, filterTest{"x32_getpid", sys(t, 0x40000000|unix.SYS_GETPID), enosys})
	}
	for _, flag := range []struct {
		name string
		bit  uint64
	}{
		{"newuser", unix.CLONE_NEWUSER}, {"newns", unix.CLONE_NEWNS}, {"newnet", unix.CLONE_NEWNET},
		{"newpid", unix.CLONE_NEWPID}, {"newipc", unix.CLONE_NEWIPC}, {"newuts", unix.CLONE_NEWUTS},
		{"newcgroup", unix.CLONE_NEWCGROUP}, {"newtime", unix.CLONE_NEWTIME},
	} {
		tests = append(tests,
			filterTest{"clone_" + flag.name, sys(t, unix.SYS_CLONE, flag.bit|uint64(unix.SIGCHLD)), eperm},
			filterTest{"unshare_" + flag.name, sys(t, unix.SYS_UNSHARE, flag.bit), eperm},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verdict(t, tt.call); got != tt.want {
				t.Errorf("filter(%+v) = %#x, want %#x", tt.call, got, tt.want)
			}
		})
	}
}

// TestFilterDeniesEveryRule checks each rule without conditions against
// the assembled filter, so no name in Rules is silently dropped.
func TestFilterDeniesEveryRule(t *testing.T) {
	native, err := nativeArch()
	if err != nil {
		t.Skip(err)
	}
	for _, r := range Rules() {
		if len(r.When) > 0 {
			continue
		}
		t.Run(r.Syscall, func(t *testing.T) {
			c := call{arch: uint32(native.ID), nr: uint32(native.SyscallNames[r.Syscall])}
			if got, want := verdict(t, c), unix.SECCOMP_RET_ERRNO|uint32(r.Errno); got != want {
				t.Errorf("filter(%s) = %#x, want %#x", r.Syscall, got, want)
			}
		})
	}
}

func TestRules(t *testing.T) {
	native, err := nativeArch()
	if err != nil {
		t.Skip(err)
	}
	conditional := make(map[string]bool)
	for i, r := range Rules() {
		for _, a := range []*arch.Info{arch.X86_64, arch.AARCH64} {
			if _, ok := a.SyscallNames[r.Syscall]; !ok && (!legacy[r.Syscall] || a == native) {
				t.Errorf("Rules()[%d].Syscall = %q, not a syscall on %s", i, r.Syscall, a.Name)
			}
		}
		if r.Reason == "" {
			t.Errorf("Rules()[%d] (%s) has no Reason", i, r.Syscall)
		}
		if r.Errno != unix.EPERM && r.Errno != unix.ENOSYS {
			t.Errorf("Rules()[%d].Errno = %v, want EPERM or ENOSYS", i, r.Errno)
		}
		if was, seen := conditional[r.Syscall]; seen && (!was || len(r.When) == 0) {
			t.Errorf("Rules()[%d]: %s has an unconditional rule and another rule", i, r.Syscall)
		}
		conditional[r.Syscall] = len(r.When) > 0
	}
	p := Policy()
	if p.DefaultAction != seccomp.ActionAllow {
		t.Errorf("Policy().DefaultAction = %v, want allow", p.DefaultAction)
	}
	prog, err := program()
	if err != nil {
		t.Fatalf("program() error: %v", err)
	}
	if len(prog) > unix.BPF_MAXINSNS {
		t.Errorf("len(program()) = %d, want <= %d", len(prog), unix.BPF_MAXINSNS)
	}
}

// TestDocListsEveryRule keeps the package comment's table in step with
// Rules.
func TestDocListsEveryRule(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if !regexp.MustCompile(`\b` + r.Syscall + `\b`).Match(doc) {
			t.Errorf("doc.go does not mention %s", r.Syscall)
		}
	}
}
