//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// File and socket operations: each makes one raw system call, so a
// refusal is the kernel's (or the filter's), never a tool's choice.
const (
	// opCreate creates PATH with open(O_CREAT|O_EXCL) and MODE (octal).
	opCreate = "create"
	// opChmod sets MODE (octal) on PATH with fchmodat.
	opChmod = "chmod"
	// opSetcap gives PATH the file capability cap_setuid+ep.
	opSetcap = "setcap"
	// opUnix connects to the Unix stream socket PATH.
	opUnix = "unix"
)

// fileOps are the operations of this file and how many arguments each
// takes after its target.
var fileOps = map[string]int{opCreate: 1, opChmod: 1, opSetcap: 0, opUnix: 0}

// fileProbe makes a file or socket attempt; ok is false for another op.
func fileProbe(ctx context.Context, op, target string, rest []string) (r hits.ProbeResult, ok bool, err error) {
	n, ok := fileOps[op]
	if !ok {
		return r, false, nil
	}
	if len(rest) != n {
		return r, true, &usageError{fmt.Sprintf("wrong number of arguments for %s", op)}
	}
	r = hits.ProbeResult{Op: op, Target: target}
	var mode uint32
	if n == 1 {
		m, err := strconv.ParseUint(rest[0], 8, 32)
		if err != nil {
			return r, true, &usageError{fmt.Sprintf("mode %q is not octal", rest[0])}
		}
		mode = uint32(m)
	}
	switch op {
	case opCreate:
		fd, err := unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, mode)
		if err == nil {
			_ = unix.Close(fd)
		}
		return fileResult(r, err), true, nil
	case opChmod:
		return fileResult(r, unix.Fchmodat(unix.AT_FDCWD, target, mode, 0)), true, nil
	case opSetcap:
		return fileResult(r, unix.Setxattr(target, "security.capability", capSetuid(), 0)), true, nil
	default:
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", target)
		if err == nil {
			_ = c.Close()
		}
		return fileResult(r, err), true, nil
	}
}

// fileResult reports err, or success with the target's mode.
func fileResult(r hits.ProbeResult, err error) hits.ProbeResult {
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	r.Reached = true
	r.Detail = "done"
	if st, err := os.Lstat(r.Target); err == nil {
		r.Detail = fmt.Sprintf("done; mode %v", st.Mode())
	}
	return r
}

// From linux/capability.h.
const (
	vfsCapRevision2     = 0x02000000
	vfsCapFlagEffective = 0x000001
)

// capSetuid is a struct vfs_cap_data (revision 2) granting CAP_SETUID,
// permitted and effective.
func capSetuid() []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], vfsCapRevision2|vfsCapFlagEffective)
	binary.LittleEndian.PutUint32(b[4:], 1<<unix.CAP_SETUID)
	return b
}
