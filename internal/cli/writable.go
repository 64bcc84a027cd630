package cli

import (
	"os"
	"syscall"
)

// writableBy reports whether uid:gid may create files in dir by its
// owner and mode bits, as an agent user that is neither root nor in
// other groups would (ACLs aside). A folder it cannot stat counts as
// writable: the start says what is wrong with it.
func writableBy(dir string, uid, gid int) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == uid:
		return perm&0o300 == 0o300
	case int(st.Gid) == gid:
		return perm&0o030 == 0o030
	default:
		return perm&0o003 == 0o003
	}
}
