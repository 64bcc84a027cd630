package policy

import "testing"

func TestCleanPath(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		want   string
		wantOK bool
	}{
		// Already clean.
		{"root", "/", "/", true},
		{"simple", "/a/b", "/a/b", true},
		{"trailing-slash", "/a/b/", "/a/b/", true},
		{"dots-in-name", "/a.b/c..d/...", "/a.b/c..d/...", true},
		{"raw-unicode", "/caf\u00e9", "/caf\u00e9", true},
		{"reserved-raw", "/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=", true},
		{"params", "/a;v=1/b", "/a;v=1/b", true},

		// Duplicate slashes collapse.
		{"double-slash", "//a//b", "/a/b", true},
		{"only-slashes", "///", "/", true},
		{"trailing-slashes", "/a///", "/a/", true},

		// Dot segments resolve.
		{"dot", "/a/./b", "/a/b", true},
		{"dot-dot", "/a/b/../c", "/a/c", true},
		{"dot-dot-final", "/a/b/..", "/a/", true},
		{"dot-final", "/a/b/.", "/a/b/", true},
		{"dot-dot-to-root", "/a/..", "/", true},
		{"dot-dot-slash-to-root", "/a/../", "/", true},
		{"dot-root", "/.", "/", true},
		{"dot-dot-then-double-slash", "/a/b//../c", "/a/c", true},
		{"escape-root", "/..", "", false},
		{"escape-root-later", "/a/../../b", "", false},
		{"escape-root-slash", "/../a", "", false},

		// Unreserved escapes decode, others are uppercased.
		{"decode-letters", "/%61%62%63", "/abc", true},
		{"decode-upper-hex", "/%7E%2D%5F", "/~-_", true},
		{"decode-dot-in-name", "/a%2eb", "/a.b", true},
		{"keep-space", "/a%20b", "/a%20b", true},
		{"keep-percent-upper", "/a%3ab", "/a%3Ab", true},
		{"keep-utf8", "/caf%c3%a9", "/caf%C3%A9", true},
		{"keep-percent-sign", "/100%25", "/100%25", true},
		{"keep-question", "/a%3Fb", "/a%3Fb", true},

		// Refused: not origin-form.
		{"empty", "", "", false},
		{"relative", "a/b", "", false},
		{"asterisk", "*", "", false},
		{"absolute-url", "http://x/a", "", false},

		// Refused: encoded separators.
		{"encoded-slash", "/a%2Fb", "", false},
		{"encoded-slash-lower", "/a%2fb", "", false},
		{"encoded-backslash", "/a%5Cb", "", false},
		{"encoded-backslash-lower", "/a%5cb", "", false},
		{"raw-backslash", "/a\\b", "", false},
		{"backslash-traversal", "/a/..\\b", "", false},

		// Refused: encoded dot segments.
		{"encoded-dot-dot", "/a/%2e%2e/b", "", false},
		{"encoded-dot-dot-upper", "/a/%2E%2E/b", "", false},
		{"half-encoded-dot-dot", "/a/.%2e/b", "", false},
		{"half-encoded-dot-dot-2", "/a/%2e./b", "", false},
		{"encoded-dot", "/a/%2e/b", "", false},
		{"encoded-dot-final", "/a/%2e", "", false},
		{"encoded-dot-dot-root", "/%2e%2e/etc/passwd", "", false},

		// Refused: dot segments with parameters.
		{"dot-dot-param", "/a/..;/b", "", false},
		{"dot-dot-param-value", "/a/..;x=1/b", "", false},
		{"dot-param", "/a/.;/b", "", false},

		// Refused: NUL and control characters.
		{"nul-encoded", "/a%00b", "", false},
		{"nul-raw", "/a\x00b", "", false},
		{"newline-encoded", "/a%0ab", "", false},
		{"cr-raw", "/a\rb", "", false},
		{"tab-raw", "/a\tb", "", false},
		{"del-encoded", "/a%7Fb", "", false},
		{"del-raw", "/a\x7fb", "", false},
		{"space-raw", "/a b", "", false},
		{"query-raw", "/a?b", "", false},
		{"fragment-raw", "/a#b", "", false},

		// Refused: malformed or double escapes.
		{"escape-short", "/a%4", "", false},
		{"escape-end", "/a%", "", false},
		{"escape-not-hex", "/a%zz", "", false},
		{"escape-half-hex", "/a%4g", "", false},
		{"double-encoded-slash", "/a%252Fb", "", false},
		{"double-encoded-dot", "/%252e%252e/x", "", false},
		{"double-encoded-built", "/a%25%32%46", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CleanPath(tt.raw)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("CleanPath(%q) = %q, %v, want %q, %v", tt.raw, got, ok, tt.want, tt.wantOK)
			}
			if !ok {
				return
			}
			if again, ok := CleanPath(got); again != got || !ok {
				t.Errorf("CleanPath(%q) = %q, %v, want it unchanged", got, again, ok)
			}
		})
	}
}
