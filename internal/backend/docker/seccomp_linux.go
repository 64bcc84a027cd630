package docker

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bits the agent's file rules test; see internal/sandbox/seccomp, whose
// rules for a native bottle these repeat for the engine's filter. They
// are Linux's values (the same on amd64 and arm64), written out because
// the client may run on macOS, whose constants differ.
const (
	setIDBits = 0o4000 | 0o2000 // S_ISUID | S_ISGID
	// deviceBit is set in S_IFCHR and S_IFBLK, never in S_IFREG,
	// S_IFIFO or S_IFSOCK.
	deviceBit = 0o20000 // S_IFCHR
	// createBits are O_CREAT and __O_TMPFILE, the flags that make open
	// create a file with its mode argument.
	createBits = 0o100 | 0o20000000
)

// fileCalls are the calls that set a file's mode, with the index of
// their mode argument and of their open flags (-1: none).
var fileCalls = []struct {
	name        string
	mode, flags uint
	device      bool
}{
	{name: "chmod", mode: 1, flags: noFlags}, {name: "fchmod", mode: 1, flags: noFlags},
	{name: "fchmodat", mode: 2, flags: noFlags}, {name: "fchmodat2", mode: 2, flags: noFlags},
	{name: "creat", mode: 1, flags: noFlags},
	{name: "open", mode: 2, flags: 1}, {name: "openat", mode: 3, flags: 2},
	{name: "mknod", mode: 1, flags: noFlags, device: true}, {name: "mknodat", mode: 2, flags: noFlags, device: true},
}

const noFlags = ^uint(0)

// agentSeccomp is the agent container's security option: moby's default
// profile, which the engine would apply anyway, with the calls that make
// set-id files and device nodes allowed only without them. The workspace
// is a host folder: a set-user-ID file the agent left there would run as
// its owner (the operator's uid) for any local user.
var agentSeccomp = sync.OnceValues(func() (string, error) {
	data, err := json.Marshal(agentProfile())
	if err != nil {
		return "", fmt.Errorf("building the agent's seccomp profile: %w", err)
	}
	return "seccomp=" + string(data), nil
})

// agentProfile returns the profile agentSeccomp sends. Calls outside
// its rules get the default profile's answer, EPERM.
func agentProfile() *seccomp.Seccomp {
	p := seccomp.DefaultProfile()
	names := map[string]bool{"openat2": true}
	for _, c := range fileCalls {
		names[c.name] = true
	}
	// Out of every rule of the default profile, so that the conditional
	// ones below alone decide.
	p.Syscalls = slices.DeleteFunc(p.Syscalls, func(s *seccomp.Syscall) bool {
		s.Names = slices.DeleteFunc(s.Names, func(n string) bool { return names[n] })
		return len(s.Names) == 0
	})
	masked := func(index, mask uint) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: index, Value: uint64(mask), ValueTwo: 0, Op: specs.OpMaskedEqual}
	}
	allow := func(name, comment string, args ...specs.LinuxSeccompArg) *seccomp.Syscall {
		return &seccomp.Syscall{
			LinuxSyscall: specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow, Args: args},
			Comment:      comment,
		}
	}
	for _, c := range fileCalls {
		mask := uint(setIDBits)
		if c.device {
			mask |= deviceBit
		}
		p.Syscalls = append(p.Syscalls, allow(c.name, "bot-bottle: no set-id file or device node", masked(c.mode, mask)))
		if c.flags != noFlags {
			p.Syscalls = append(p.Syscalls, allow(c.name, "bot-bottle: opening without creating ignores the mode", masked(c.flags, createBits)))
		}
	}
	enosys := uint(38) // Linux ENOSYS
	p.Syscalls = append(p.Syscalls, &seccomp.Syscall{
		LinuxSyscall: specs.LinuxSyscall{Names: []string{"openat2"}, Action: specs.ActErrno, ErrnoRet: &enosys},
		Comment:      "bot-bottle: flags and mode in memory the filter cannot read; ENOSYS makes callers fall back to openat",
	})
	return p
}
