//go:build linux

package inside

import "testing"

func TestIsFresh(t *testing.T) {
	for _, c := range []struct {
		path string
		want bool
	}{
		{"/tmp", true},
		{"/tmp/", true},
		{"/home", true},
		{"/tmp/bb/state", false}, // may be a host path bound there
		{"/home/u/.bot-bottle", false},
		{"tmp", true},
		{"/var/tmp/bb", false},
		{"/etc/ssh", false},
		{"/tmpx", false},
		{"/", false},
		{"/opt/../tmp", true},
	} {
		if got := isFresh(c.path); got != c.want {
			t.Errorf("isFresh(%q) = %v, want %v", c.path, got, c.want)
		}
	}
}
