package supervise

import "testing"

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, ünïcode ok", "plain text, ünïcode ok"},
		{"\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\x07`},
		{"line\nbreak\r", `line\x0abreak\x0d`},
		{"a\u202egnp.exe", `a\u202egnp.exe`},
		{"c1 \u009b31m", `c1 \x9b31m`},
		{"bad \xff byte", `bad \xff byte`},
		{`fake \x1b`, `fake \\x1b`},
		{"zero\u200bwidth", `zero\u200bwidth`},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzEscape(f *testing.F) {
	f.Add("\x1b[31mred")
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []byte(Escape(s)) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("Escape(%q) keeps control byte %#x", s, c)
			}
		}
	})
}
