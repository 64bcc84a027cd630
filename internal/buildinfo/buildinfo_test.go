package buildinfo

import (
	"regexp"
	"runtime/debug"
	"testing"
)

func TestCommit(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name     string
		settings []debug.BuildSetting
		want     string
	}{
		{"none", nil, ""},
		{"clean", []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}, "0123456"},
		{"dirty", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: rev}}, "0123456-dirty"},
		{"short", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, "abc"},
		{"dirty-without-revision", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := vcsCommit(tt.settings); got != tt.want {
				t.Errorf("vcsCommit(%v) = %q, want %q", tt.settings, got, tt.want)
			}
		})
	}
}

func TestVersionFromLinker(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3"
	if got := Version(); got != "v1.2.3" {
		t.Errorf("Version() = %q, want v1.2.3", got)
	}
	version = ""
	if got := Version(); got == "" {
		t.Error(`Version() = "", want the module version or "devel"`)
	}
}

func TestCommitFromLinker(t *testing.T) {
	old := commit
	t.Cleanup(func() { commit = old })
	commit = "abc1234"
	if got := Commit(); got != "abc1234" {
		t.Errorf("Commit() = %q, want abc1234", got)
	}
}

func TestString(t *testing.T) {
	re := regexp.MustCompile(`^bot-bottle \S+ \(commit \S+, go\S+ [a-z0-9]+/[a-z0-9]+\)$`)
	if got := String(); !re.MatchString(got) {
		t.Errorf("String() = %q, want a match for %s", got, re)
	}
}
