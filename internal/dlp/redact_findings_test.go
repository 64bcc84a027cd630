package dlp

import "testing"

func TestRedactFindings(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		found      []string
		want       string
		ok         bool
	}{
		{"none", "clean", nil, "clean", true},
		{"each-occurrence", "a=TOK b=TOK", []string{"TOK"}, "a=[REDACTED] b=[REDACTED]", true},
		{"overlapping-matches-are-one", "x abcdefghi y", []string{"abcdef", "defghi"}, "x [REDACTED] y", true},
		{"touching-matches-are-one", "abcdef", []string{"abc", "def"}, "[REDACTED]", true},
		{"nested", "xx-secret-xx", []string{"secret", "-secret-"}, "xx[REDACTED]xx", true},
		{"non-ascii-around", "é→TOKü", []string{"TOK"}, "é→[REDACTED]ü", true},
		{"not-in-the-text", "only decoded here", []string{"TOK"}, "", false},
		{"no-text", "stripped a-b-c", []string{""}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fs []Finding
			for _, s := range tc.found {
				fs = append(fs, Finding{Detector: TokenPatterns, text: s})
			}
			if got, ok := RedactFindings(tc.text, fs); got != tc.want || ok != tc.ok {
				t.Errorf("RedactFindings(%q, %q) = %q, %v, want %q, %v", tc.text, tc.found, got, ok, tc.want, tc.ok)
			}
		})
	}
}
