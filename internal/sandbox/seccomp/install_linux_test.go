package seccomp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// caseEnv names the case a child test process runs under the filter.
const caseEnv = "BOTBOTTLE_SECCOMP_CASE"

// childCase is an operation a child runs after Install, and the result it
// must print: "ok", an errno name such as "EPERM", or the signal that ended
// a command. A case may also have a setup in caseSetup.
type childCase struct {
	name string
	run  func() string
	want string
}

// childCases hold arguments chosen so that, without the filter, the kernel
// answers something other than the errno the filter returns wherever it can.
var childCases = append([]childCase{
	{"mount", func() string {
		return result(unix.Mount("none", "/nonexistent/bot-bottle", "tmpfs", 0, ""))
	}, "EPERM"},
	{"umount2", func() string { return result(unix.Unmount("/nonexistent/bot-bottle", 0)) }, "EPERM"},
	{"unshare_newuser", func() string { return result(unix.Unshare(unix.CLONE_NEWUSER)) }, "EPERM"},
	{"unshare_newns", func() string { return result(unix.Unshare(unix.CLONE_NEWNS)) }, "EPERM"},
	{"unshare_fs", func() string { return result(unix.Unshare(unix.CLONE_FS)) }, "ok"},
	{"setns", func() string { return result(unix.Setns(-1, 0)) }, "EPERM"},
	{"clone_newnet", func() string { return run(exec.Command("/bin/true"), unix.CLONE_NEWNET) }, "EPERM"},
	{"clone_newuser", func() string { return run(exec.Command("/bin/true"), unix.CLONE_NEWUSER) }, "EPERM"},
	{"clone3", func() string { return raw(unix.SYS_CLONE3, 0, 0, 0) }, "ENOSYS"},
	{"socket_packet", func() string { return socket(unix.AF_PACKET, unix.SOCK_RAW, 0) }, "EPERM"},
	{"socket_bluetooth", func() string { return socket(unix.AF_BLUETOOTH, unix.SOCK_STREAM, 0) }, "EPERM"},
	{"socket_vsock", func() string { return socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0) }, "EPERM"},
	{"socket_netlink_netfilter", func() string {
		return socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_NETFILTER)
	}, "EPERM"},
	{"socket_netlink_route", func() string { return socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE) }, "ok"},
	{"socket_inet", func() string { return socket(unix.AF_INET, unix.SOCK_STREAM, 0) }, "ok"},
	{"socket_unix", func() string { return socket(unix.AF_UNIX, unix.SOCK_STREAM, 0) }, "EPERM"},
	{"socket_unix_dgram", func() string { return socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0) }, "EPERM"},
	{"socketpair_unix", func() string {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
		}
		return result(err)
	}, "ok"},
	{"interfaces", func() string {
		// Go reads interfaces through NETLINK_ROUTE, as getifaddrs does.
		_, err := net.Interfaces()
		return result(err)
	}, "ok"},
	{"keyctl", func() string {
		_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
		return result(err)
	}, "EPERM"},
	{"bpf", func() string { return raw(unix.SYS_BPF, 0xffff, 0, 0) }, "EPERM"},
	{"ptrace_traceme", func() string { return raw(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0) }, "EPERM"},
	{"perf_event_open", func() string { return raw(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0)) }, "EPERM"},
	{"io_uring_setup", func() string { return raw(unix.SYS_IO_URING_SETUP, 1, 0, 0) }, "EPERM"},
	{"personality_no_aslr", func() string { return raw(unix.SYS_PERSONALITY, addrNoRandomize, 0, 0) }, "EPERM"},
	{"personality_query", func() string { return raw(unix.SYS_PERSONALITY, perQuery, 0, 0) }, "ok"},
	{"exec_true", func() string { return run(exec.Command("/bin/true"), 0) }, "ok"},
	{"exec_sh", func() string { return run(exec.Command("sh", "-c", "true && /bin/true | cat"), 0) }, "ok"},
	{"threads", threads, "ok"},
	{"no_new_privs", noNewPrivs, "ok"},
}, slices.Concat(archCases, fileCases, legacyCases)...)

// result names the outcome of an operation.
func result(err error) string {
	var errno unix.Errno
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return unix.SignalName(ws.Signal())
		}
	}
	return err.Error()
}

// raw makes a system call that x/sys/unix does not wrap.
func raw(nr, a1, a2, a3 uintptr) string {
	_, _, errno := unix.Syscall(nr, a1, a2, a3)
	if errno != 0 {
		return result(errno)
	}
	return "ok"
}

func socket(domain, typ, proto int) string {
	fd, err := unix.Socket(domain, typ, proto)
	if err == nil {
		unix.Close(fd)
	}
	return result(err)
}

// run runs cmd in new namespaces named by cloneflags, if any.
func run(cmd *exec.Cmd, cloneflags uintptr) string {
	cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: cloneflags}
	return result(cmd.Run())
}

// threads checks that the Go runtime can still start OS threads: each
// goroutine that locks its thread forces a new one.
func threads() string {
	const n = 8
	var wg sync.WaitGroup
	locked, release := make(chan struct{}), make(chan struct{})
	for range n {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			locked <- struct{}{}
			<-release
		})
	}
	for range n {
		<-locked
	}
	tasks, err := os.ReadDir("/proc/self/task")
	close(release)
	wg.Wait()
	if err != nil {
		return err.Error()
	}
	if len(tasks) <= n {
		return fmt.Sprintf("%d threads, want > %d", len(tasks), n)
	}
	return "ok"
}

// noNewPrivs checks that every thread, including those that existed
// before Install, has no_new_privs and a seccomp filter.
func noNewPrivs() string {
	paths, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(paths) < 2 {
		return fmt.Sprintf("listing threads: %d found, %v", len(paths), err)
	}
	for _, p := range paths {
		status, err := os.ReadFile(p)
		if err != nil {
			return err.Error()
		}
		for _, line := range []string{"NoNewPrivs:\t1\n", "Seccomp:\t2\n"} {
			if !bytes.Contains(status, []byte(line)) {
				return fmt.Sprintf("%s lacks %q", p, line)
			}
		}
	}
	return "ok"
}

// TestHelperProcess is the child: it installs the filter, runs the case
// named by caseEnv and prints the result.
func TestHelperProcess(t *testing.T) {
	name := os.Getenv(caseEnv)
	if name == "" {
		t.Skip("helper process, run by TestInstall")
	}
	for _, c := range childCases {
		if c.name != name {
			continue
		}
		if err := Install(); err != nil {
			fmt.Printf("Install() error: %v", err)
			os.Exit(2)
		}
		fmt.Print(c.run())
		os.Exit(0)
	}
	fmt.Printf("no case %q", name)
	os.Exit(2)
}

func TestInstall(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	for _, c := range childCases {
		t.Run(c.name, func(t *testing.T) {
			var env []string
			if setup := caseSetup[c.name]; setup != nil {
				env = setup(t)
			}
			t.Parallel()
			if got := runChild(t, c.name, env...); got != c.want {
				t.Errorf("after Install, %s: %s, want %s", c.name, got, c.want)
			}
		})
	}
}

// runChild runs case name in a fresh test process and returns what it
// printed.
func runChild(t *testing.T, name string, env ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$")
	// The race detector otherwise sleeps a second before each child exits.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), caseEnv+"="+name, "GORACE="+gorace)
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v: %s%s", name, err, out, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}
