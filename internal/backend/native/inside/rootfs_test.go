//go:build linux

package inside

import "testing"

func TestUnderFresh(t *testing.T) {
	for _, c := range []struct {
		path string
		want bool
	}{
		{"/tmp", true},
		{"/tmp/", true},
		{"/tmp/bb/state", true},
		{"/home/u/.bot-bottle", true},
		{"/root/.bot-bottle", true},
		{"tmp", true},
		{"/var/tmp/bb", false},
		{"/etc/ssh", false},
		{"/tmpx", false},
		{"/", false},
		{"/opt/../tmp/x", true},
	} {
		if got := underFresh(c.path); got != c.want {
			t.Errorf("underFresh(%q) = %v, want %v", c.path, got, c.want)
		}
	}
}
