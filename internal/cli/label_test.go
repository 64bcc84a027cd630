package cli

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

func TestCheckLabel(t *testing.T) {
	for _, c := range []struct {
		label string
		ok    bool
	}{
		{"", true},
		{"the night shift", true},
		{"équipe 夜", true},
		{strings.Repeat("x", maxLabel), true},
		{strings.Repeat("x", maxLabel+1), false},
		{"title\x1b]0;owned\x07", false}, // a terminal escape in list active
		{"new\nline", false},
		{"bidi\u202eevil", false}, // reorders what the operator reads
		{"zero\u200bwidth", false},
		{"\xff\xfe", false},
		{" lead", false},
		{"trail ", false},
	} {
		if err := checkLabel(c.label); (err == nil) != c.ok {
			t.Errorf("checkLabel(%q) = %v, want ok %v", c.label, err, c.ok)
		}
	}
}

func TestShellJoin(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"claude", "-p", "fix the tests"}, "claude -p 'fix the tests'"},
		{[]string{"bash", "-lc", "echo 'hi'\nexit 3"}, `bash -lc 'echo '\''hi'\''` + "\n" + `exit 3'`},
		{[]string{"a", ""}, "a ''"},
		{[]string{"--name=x/y:z@1%"}, "--name=x/y:z@1%"},
	} {
		if got := shellJoin(c.argv); got != c.want {
			t.Errorf("shellJoin(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
}

func TestPaint(t *testing.T) {
	if got := paint("x", "cyan", true); got != "\x1b[96mx\x1b[0m" {
		t.Errorf("paint on = %q", got)
	}
	if got := paint("x", "cyan", false); got != "x" {
		t.Errorf("paint off = %q", got)
	}
	if got := paint("x", "", true); got != "x" {
		t.Errorf("paint without a color = %q", got)
	}
}

// Every color an agent may name is one list active can paint, and only
// those.
func TestLabelColorsMatchTheManifest(t *testing.T) {
	got := slices.Sorted(maps.Keys(labelColors))
	if diff := cmp.Diff(manifest.LabelColors, got); diff != "" {
		t.Errorf("manifest.LabelColors and labelColors differ (-manifest +cli):\n%s", diff)
	}
}
