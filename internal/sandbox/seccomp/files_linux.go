package seccomp

import (
	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// Mode and flag bits the file rules test. The kernel reads modes and open
// flags as 32-bit ints; BitsSet tests all 64 bits of the argument, so a
// caller that sets upper bits cannot hide the low ones.
const (
	// SetIDBits are the set-user-ID and set-group-ID mode bits.
	SetIDBits = unix.S_ISUID | unix.S_ISGID
	// deviceBit is set in S_IFCHR and S_IFBLK (and in S_IFLNK, which
	// mknod refuses anyway), never in S_IFREG, S_IFIFO or S_IFSOCK.
	deviceBit = unix.S_IFCHR
	// tmpfileBit is __O_TMPFILE, the bit O_TMPFILE adds to O_DIRECTORY.
	tmpfileBit = unix.O_TMPFILE &^ unix.O_DIRECTORY
)

// legacy are the calls arm64 does not have (it has only the *at forms).
var legacy = map[string]bool{"chmod": true, "open": true, "creat": true, "mknod": true}

// modeArgs say where a call that sets a file's mode takes it, and where
// its open flags are: -1 for a call that always creates, -2 for chmod.
var modeArgs = []struct {
	name        string
	mode, flags int
}{
	{"chmod", 1, -2}, {"fchmod", 1, -2}, {"fchmodat", 2, -2}, {"fchmodat2", 2, -2},
	{"creat", 1, -1}, {"open", 2, 1}, {"openat", 3, 2},
	{"mknod", 1, -1}, {"mknodat", 2, -1},
}

// fileRules keep set-id files and device nodes out of everything the
// bottle can write, the workspace the host sees above all: a set-user-ID
// file the agent made there runs with its owner's euid (host root when a
// root operator's workspace is mapped to the agent) for any local user.
// Landlock and no_new_privs do not stop it: they protect the bottle, not
// the host's later use of its files.
func fileRules() []Rule {
	const (
		chmodReason  = "makes a set-user-ID or set-group-ID file, which grants its owner's ids to whoever on the host runs it"
		createReason = "creates a set-user-ID or set-group-ID file, which grants its owner's ids to whoever on the host runs it"
	)
	var rules []Rule
	for _, m := range modeArgs {
		setID := seccomp.Condition{Argument: uint32(m.mode), Operation: seccomp.BitsSet, Value: SetIDBits} //nolint:gosec // G115: an argument index, 1 to 3
		switch m.flags {
		case -2:
			rules = append(rules, Rule{Syscall: m.name, When: []seccomp.Condition{setID}, Errno: unix.EPERM, Reason: chmodReason})
		case -1:
			rules = append(rules, Rule{Syscall: m.name, When: []seccomp.Condition{setID}, Errno: unix.EPERM, Reason: createReason})
		default:
			for _, bit := range []uint64{unix.O_CREAT, tmpfileBit} {
				rules = append(rules, Rule{
					Syscall: m.name,
					When: []seccomp.Condition{
						{Argument: uint32(m.flags), Operation: seccomp.BitsSet, Value: bit}, //nolint:gosec // G115: an argument index, 1 or 2
						setID,
					},
					Errno:  unix.EPERM,
					Reason: createReason,
				})
			}
		}
		if m.name == "mknod" || m.name == "mknodat" {
			rules = append(rules, Rule{
				Syscall: m.name,
				When:    []seccomp.Condition{{Argument: uint32(m.mode), Operation: seccomp.BitsSet, Value: deviceBit}}, //nolint:gosec // G115: an argument index, 1 or 2
				Errno:   unix.EPERM,
				Reason:  "creates a block or character device node, which opens a host device to whoever can reach the file (FIFOs and sockets stay allowed)",
			})
		}
	}
	return append(rules, Rule{
		Syscall: "openat2",
		Errno:   unix.ENOSYS,
		Reason:  "passes its flags and mode in memory the filter cannot read; ENOSYS makes callers fall back to openat",
	})
}
