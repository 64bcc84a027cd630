package pushcheck

import (
	"strings"

	"github.com/zricethezav/gitleaks/v8/detect/codec"
)

// encodedLines returns the indexes of the lines of text that hold a
// segment gitleaks' decoder decodes (base64, hex, percent or unicode
// escapes that decode to printable text). The decoder's expression is
// slow, so it runs only on lines maybeEncoded lets through.
func encodedLines(text string, starts []int) []int {
	var out []int
	for i := 0; i+1 < len(starts); i++ {
		line := text[starts[i]:starts[i+1]]
		if !maybeEncoded(line) {
			continue
		}
		if _, segs := codec.NewDecoder().Decode(line, nil); len(segs) > 0 {
			out = append(out, i)
		}
	}
	return out
}

// maybeEncoded reports whether s may hold a segment gitleaks' decoder
// decodes: it must let through every such s (FuzzMaybeEncoded checks this
// against the decoder), and lets through few others. Its tests follow
// the decoder's patterns:
//   - percent: %XX;
//   - unicode: U+XXXX or \uXXXX;
//   - hex and base64: 16 or more of [A-Za-z0-9_/+-] in a row, with one of
//     0-9 + / - _ among them, which the decoder requires before decoding.
func maybeEncoded(s string) bool {
	run, likely := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			run++
			continue
		case '0' <= c && c <= '9' || c == '_' || c == '/' || c == '-':
			run++
			likely = true
			continue
		case c == '+':
			if i > 0 && s[i-1] == 'U' && hexAt(s, i+1, 4) {
				return true
			}
			run++
			likely = true
			continue
		}
		if run >= 16 && likely {
			return true
		}
		run, likely = 0, false
		switch c {
		case '%':
			if hexAt(s, i+1, 2) {
				return true
			}
		case '\\':
			if i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') && hexAt(s, i+2, 4) {
				return true
			}
		}
	}
	return run >= 16 && likely
}

// hexAt reports whether s holds n hex digits at i.
func hexAt(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	return strings.Trim(s[i:i+n], "0123456789abcdefABCDEF") == ""
}
