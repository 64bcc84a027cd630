package pushcheck

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"main", "xmain", false},
		{"feature/*", "feature/x", true},
		{"feature/*", "feature/", true},
		{"feature/*", "feature/x/y", false},
		{"feature/*", "feature", false},
		{"*", "anything", true},
		{"*", "a/b", false},
		{"**", "a/b/c", true},
		{"**", "", true},
		{"bot/**", "bot/a", true},
		{"bot/**", "bot/a/b/c", true},
		{"bot/**", "bot", false},
		{"bot/**", "robot/a", false},
		{"**/wip", "wip", true},
		{"**/wip", "a/b/wip", true},
		{"**/wip", "a/bwip", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/xb", false},
		{"a**b", "a/x/b", true},
		{"a**b", "ab", true},
		{"x-*-y", "x--y", true},
		{"x-*-y", "x-a-b-y", true},
		{"x-*-y", "x-a/-y", false},
		{".github/workflows/**", ".github/workflows/ci.yml", true},
		{".github/workflows/**", ".github/workflowsx/ci.yml", false},
		{"**/*.pem", "key.pem", true},
		{"**/*.pem", "a/b/key.pem", true},
		{"**/*.pem", "a/b/key.pem.txt", false},
		{"fix-?", "fix-?", true},
		{"fix-?", "fix-a", false},
		{"[ab]", "a", false},
		{"[ab]", "[ab]", true},
		{"***", "a/b", true},
		{"*/**/*", "a/b", true},
		{"*/**/*", "a", false},
	}
	for _, tt := range tests {
		if got := compilePattern(tt.pattern).match(tt.s); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// refRegexp translates a pattern to a regexp, as a second reading of the
// syntax for the fuzzer.
func refRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	for i := 0; i < len(p); {
		switch {
		case strings.HasPrefix(p[i:], "**/") && (i == 0 || p[i-1] == '/'):
			b.WriteString(`(?:.*/)?`)
			i += 3
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(`.*`)
			i += 2
		case p[i] == '*':
			b.WriteString(`[^/]*`)
			i++
		default:
			_, n := utf8.DecodeRuneInString(p[i:])
			b.WriteString(regexp.QuoteMeta(p[i : i+n]))
			i += n
		}
	}
	return regexp.MustCompile(`(?s)^` + b.String() + `$`)
}

func FuzzPatternMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"feature/*", "feature/x"}, {"**/wip", "a/wip"}, {"a/**/b", "a/b"}, {"a**b*c", "a/b/xc"},
		{"*/**/*", "a/b"}, {"**", ""}, {"x/**", "x/"}, {"*a*a*a*a*a*a", "aaaaaaaaaaaaaaaaaaaaaaaaab"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(s) || len(pattern) > 64 || len(s) > 256 {
			return
		}
		got := compilePattern(pattern).match(s)
		if want := refRegexp(pattern).MatchString(s); got != want {
			t.Errorf("match(%q, %q) = %v, the regexp reading says %v", pattern, s, got, want)
		}
	})
}
