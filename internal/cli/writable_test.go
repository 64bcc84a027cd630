package cli

import (
	"os"
	"testing"
)

func TestWritableBy(t *testing.T) {
	dir := t.TempDir()
	uid, gid := os.Getuid(), os.Getgid()
	for _, c := range []struct {
		mode     os.FileMode
		uid, gid int
		want     bool
	}{
		{0o755, uid, gid, true},
		{0o555, uid, gid, false},
		{0o755, uid + 1000, gid + 1000, false}, // the image's user, for a root operator
		{0o775, uid + 1000, gid, true},
		{0o757, uid + 1000, gid + 1000, true},
		{0o777, uid + 1000, gid + 1000, true},
		{0o776, uid + 1000, gid + 1000, false}, // no search bit: no new files
	} {
		if err := os.Chmod(dir, c.mode); err != nil {
			t.Fatal(err)
		}
		if got := writableBy(dir, c.uid, c.gid); got != c.want {
			t.Errorf("writableBy(mode %o, %d:%d) = %v, want %v", c.mode, c.uid, c.gid, got, c.want)
		}
	}
	if !writableBy(dir+"/missing", uid, gid) {
		t.Error("a folder that cannot be read is reported unwritable; the start should say what is wrong")
	}
}
