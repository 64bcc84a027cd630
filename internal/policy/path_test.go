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
		{"dots-in-name", "/a.b/c..d/.x./x..", "/a.b/c..d/.x./x..", true},
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

		// Refused: segments a server folds into dot segments.
		{"dot-dot-encoded-param", "/a/..%3B/b", "", false},
		{"dot-dot-encoded-param-lower", "/a/..%3b/b", "", false},
		{"encoded-dots-encoded-param", "/a/%2e%2e%3b/b", "", false},
		{"encoded-dot-dot-param", "/a/%2e%2e;x/b", "", false},
		{"three-dots", "/a/.../b", "", false},
		{"dots-trailing-space", "/a/..%20/b", "", false},
		{"dot-space-dot", "/a/.%20./b", "", false},
		{"dots-param-after-space", "/a/..%20;x/b", "", false},
		{"param-only-kept", "/a/;x/b", "/a/;x/b", true},

		// Refused: invalid UTF-8 and non-ASCII look-alikes.
		{"invalid-utf8", "/a/%ff/b", "", false},
		{"invalid-utf8-raw", "/a/\xff/b", "", false},
		{"overlong-dot", "/a/%c0%ae%c0%ae/b", "", false},
		{"overlong-slash", "/a/..%c0%afb", "", false},
		{"overlong-3byte-dot", "/a/%e0%80%ae/b", "", false},
		{"surrogate", "/a/%ed%a0%80/b", "", false},
		{"fullwidth-dot", "/a/%ef%bc%8e%ef%bc%8e/b", "", false},
		{"fullwidth-dot-raw", "/a/\uff0e\uff0e/b", "", false},
		{"fullwidth-dot-in-name", "/a/x\uff0ey", "", false},
		{"fullwidth-solidus", "/a/x%ef%bc%8fy", "", false},
		{"fullwidth-reverse-solidus", "/a/x\uff3cy", "", false},
		{"fullwidth-semicolon", "/a/..\uff1bx/b", "", false},
		{"fullwidth-percent", "/a/\uff05%32e", "", false},
		{"two-dot-leader", "/a/\u2025/b", "", false},
		{"one-dot-leader", "/a/\u2024\u2024/b", "", false},
		{"ellipsis", "/a/\u2026/b", "", false},
		{"small-full-stop", "/a/\ufe52\ufe52/b", "", false},
		{"greek-question-mark", "/a/..\u037e/b", "", false},
		{"division-slash", "/a/x\u2215y", "", false},
		{"fraction-slash", "/a/x\u2044y", "", false},
		{"yen-sign", "/a/x\u00a5y", "", false},
		{"won-sign", "/a/x\u20a9y", "", false},
		{"ideographic-full-stop", "/a/\u3002\u3002/b", "", false},
		{"ordinary-unicode", "/wiki/Caf%C3%A9/%E6%97%A5%E6%9C%AC", "/wiki/Caf%C3%A9/%E6%97%A5%E6%9C%AC", true},

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
