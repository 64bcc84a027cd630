package seccomp

import (
	"slices"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// Rule denies one system call, or those calls of it whose arguments match.
type Rule struct {
	// Syscall is the name in the kernel's syscall table, e.g. "mount".
	Syscall string
	// When holds conditions on the arguments that must all match for the
	// rule to apply; empty means every call. Two rules for one syscall
	// apply when either matches.
	When []seccomp.Condition
	// Errno is what the call returns instead of running.
	Errno unix.Errno
	// Reason says in one line why the agent must not make the call.
	Reason string
}

// nsFlags are the clone and unshare flags that create a namespace.
// CLONE_NEWTIME shares its bit with clone's exit signal field, where no
// valid signal sets it.
const nsFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWNET |
	unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS |
	unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// Personality arguments the agent may pass: PER_LINUX, the default, and
// the query that reads the persona without changing it.
const (
	perLinux = 0x0
	perQuery = 0xffffffff
)

// denied lists the syscalls denied outright with EPERM, grouped by reason.
var denied = []struct {
	reason string
	names  []string
}{
	{"changes the mount table the backend built for the bottle", []string{
		"mount", "umount2", "pivot_root", "move_mount", "open_tree", "open_tree_attr",
		"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	}},
	{"changes the root directory, the first step of many jail escapes", []string{"chroot"}},
	{"joins a namespace outside the bottle through a file descriptor", []string{"setns"}},
	{"reads or changes another process's memory, registers or files", []string{
		"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	}},
	{"kernel keyrings are not namespaced, so keys could cross the bottle wall", []string{
		"keyctl", "add_key", "request_key",
	}},
	{"loads programs into the kernel, a large and often exploited surface", []string{"bpf"}},
	{"exposes kernel and CPU internals and is a frequent source of kernel bugs", []string{"perf_event_open"}},
	{"loads a new kernel or kernel modules", []string{
		"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	}},
	{"administers the machine, not the bottle", []string{
		"reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd",
	}},
	{"sets the clock, which no namespace isolates", []string{
		"settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
	}},
	{"renames the bottle, whose name the backend sets", []string{"sethostname", "setdomainname"}},
	{"opens files by handle, skipping path checks (the shocker escape)", []string{
		"open_by_handle_at", "name_to_handle_at",
	}},
	{"stalls the kernel at a page fault, widening races for kernel exploits", []string{"userfaultfd"}},
	{"runs operations the filter cannot see and is a frequent source of kernel bugs", []string{
		"io_uring_setup", "io_uring_enter", "io_uring_register",
	}},
}

// Rules returns the rules of the filter in the order the filter checks
// them. Every call that no rule matches is allowed.
func Rules() []Rule {
	var rules []Rule
	for _, d := range denied {
		for _, name := range d.names {
			rules = append(rules, Rule{Syscall: name, Errno: unix.EPERM, Reason: d.reason})
		}
	}
	const nsReason = "creates a namespace, reopening kernel surface the bottle's own namespaces close"
	for _, name := range []string{"clone", "unshare"} {
		rules = append(rules, Rule{
			Syscall: name,
			When:    []seccomp.Condition{{Argument: 0, Operation: seccomp.BitsSet, Value: nsFlags}},
			Errno:   unix.EPERM,
			Reason:  nsReason,
		})
	}
	rules = append(rules, Rule{
		Syscall: "personality",
		When: []seccomp.Condition{
			{Argument: 0, Operation: seccomp.NotEqual, Value: perLinux},
			{Argument: 0, Operation: seccomp.NotEqual, Value: perQuery},
		},
		Errno:  unix.EPERM,
		Reason: "changes the execution domain, e.g. turning off ASLR for the programs it runs",
	})
	// Socket arguments are ints: a caller that sets the upper 32 bits gets
	// denied, never allowed, since the comparisons use all 64.
	for _, name := range []string{"socket", "socketpair"} {
		rules = append(rules, Rule{
			Syscall: name,
			When: []seccomp.Condition{
				{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_UNIX},
				{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_INET},
				{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_INET6},
				{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_NETLINK},
			},
			Errno:  unix.EPERM,
			Reason: "opens a rarely used socket family (packet, vsock, bluetooth, ...): kernel bugs, and a way around the egress proxy",
		})
	}
	rules = append(rules,
		Rule{
			Syscall: "socket",
			When: []seccomp.Condition{
				{Argument: 0, Operation: seccomp.Equal, Value: unix.AF_NETLINK},
				{Argument: 2, Operation: seccomp.NotEqual, Value: unix.NETLINK_ROUTE},
			},
			Errno:  unix.EPERM,
			Reason: "opens a netlink family other than route (netfilter, xfrm, audit, ...), which configures or watches the kernel",
		},
		Rule{
			Syscall: "socket",
			When:    []seccomp.Condition{{Argument: 0, Operation: seccomp.Equal, Value: unix.AF_UNIX}},
			Errno:   unix.EPERM,
			Reason:  "opens a Unix socket, which reaches any host daemon whose pathname socket the bottle can see (socketpair stays allowed)",
		},
		Rule{
			Syscall: "clone3",
			Errno:   unix.ENOSYS,
			Reason:  "passes flags in memory the filter cannot read; ENOSYS makes glibc fall back to clone",
		},
	)
	rules = append(rules, fileRules()...)
	native, err := nativeArch()
	if err != nil {
		return rules
	}
	// The legacy calls exist only on some architectures.
	return slices.DeleteFunc(rules, func(r Rule) bool {
		_, ok := native.SyscallNames[r.Syscall]
		return !ok && legacy[r.Syscall]
	})
}

// Policy returns the filter built from [Rules] in the form the
// go-seccomp-bpf library assembles: one group per errno, default allow.
func Policy() seccomp.Policy {
	p := seccomp.Policy{DefaultAction: seccomp.ActionAllow}
	group := make(map[unix.Errno]int)
	for _, r := range Rules() {
		i, ok := group[r.Errno]
		if !ok {
			i = len(p.Syscalls)
			group[r.Errno] = i
			p.Syscalls = append(p.Syscalls, seccomp.SyscallGroup{Action: errnoAction(r.Errno)})
		}
		g := &p.Syscalls[i]
		if len(r.When) == 0 {
			g.Names = append(g.Names, r.Syscall)
			continue
		}
		g.NamesWithCondtions = append(g.NamesWithCondtions, seccomp.NameWithConditions{
			Name:       r.Syscall,
			Conditions: r.When,
		})
	}
	return p
}

// errnoAction returns the action that fails a call with errno.
func errnoAction(errno unix.Errno) seccomp.Action {
	return seccomp.ActionErrno | seccomp.Action(errno&unix.SECCOMP_RET_DATA)
}
