package policy

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// CleanPath puts a request's raw (still percent-encoded) URL path in the
// canonical form that Allows is defined on, or reports ok=false for a path
// so ambiguous that the proxy must refuse it (path-not-allowed) rather than
// guess how the upstream will read it.
//
// Cleaning decodes the percent-encoding of unreserved characters (letters,
// digits, "-", ".", "_", "~"), writes every other escape with uppercase hex,
// collapses runs of "/", and resolves "." and ".." segments as RFC 3986
// section 5.2.4 does (a final "." or ".." leaves a trailing slash). A
// trailing slash is kept.
//
// Security: a path is refused when it
//   - does not start with "/" (this includes "" and "*");
//   - holds an encoded "/" (%2F) or "\" (%5C), or a raw "\";
//   - holds a NUL or another control character, raw or encoded, or a raw
//     space, "?" or "#";
//   - holds a malformed escape, or a double encoding ("%25" followed by two
//     hex digits, which a server decoding twice reads differently);
//   - holds a dot segment written with an encoded dot ("%2e", ".%2E");
//   - holds a dot segment with parameters (".;x", "..;"), which some
//     servers read as "." or "..";
//   - climbs above the root with "..";
//   - holds a segment that some server folds into a dot segment: once
//     fully decoded and cut at its first ";" (Tomcat and Spring drop path
//     parameters, including an encoded "%3B"), it is only dots and spaces
//     (Windows servers trim trailing dots and spaces) but is not written
//     "." or "..";
//   - decodes to invalid UTF-8 (overlong forms such as %C0%AE are
//     invalid), or to a non-ASCII character a server folds into ".", "/",
//     "\\", ";", "%", "?" or "#": NFKC folding (full-width dots and
//     solidus, U+2025) or a best-fit code page mapping (U+2215, U+00A5).
//
// The canonical form is what the proxy forwards, so the upstream sees the
// path the rule matched and nothing it could fold differently.
func CleanPath(rawPath string) (string, bool) {
	if !strings.HasPrefix(rawPath, "/") {
		return "", false
	}
	segs := strings.Split(rawPath[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		seg, encodedDot, ok := decodeSegment(s)
		if !ok {
			return "", false
		}
		last := i == len(segs)-1
		name, _, params := strings.Cut(seg, ";")
		isDot := name == "." || name == ".."
		switch {
		case isDot && (encodedDot || params):
			return "", false
		case s != "." && s != ".." && folds(s):
			return "", false
		case seg == "":
			trailing = last
			continue
		case seg == ".":
			trailing = last
			continue
		case seg == "..":
			if len(out) == 0 {
				return "", false
			}
			out = out[:len(out)-1]
			trailing = last
			continue
		}
		out = append(out, seg)
		trailing = false
	}
	clean := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		clean += "/"
	}
	if doubleEncoded(clean) {
		return "", false
	}
	return clean, true
}

// folds reports whether a raw segment (its escapes already validated)
// could be read by some server as a dot segment or as holding a
// separator; see CleanPath.
func folds(raw string) bool {
	d := raw
	ascii := true
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' || raw[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		d = unescapeAll(raw)
		if !utf8.ValidString(d) {
			return true
		}
		nonASCII := false
		for _, r := range d {
			if r >= 0x80 {
				nonASCII = true
				if lookalike[r] {
					return true
				}
			}
		}
		if nonASCII {
			n := norm.NFKC.String(d)
			for _, c := range foldTargets {
				if strings.Count(n, c) > strings.Count(d, c) {
					return true
				}
			}
		}
	}
	name, _, _ := strings.Cut(d, ";")
	return name != "" && strings.TrimRight(name, ". ") == ""
}

// foldTargets are the characters a non-ASCII one must not fold into.
var foldTargets = []string{".", "/", "\\", ";", "%", "?", "#"}

// lookalike holds characters that best-fit code page conversions (the
// Windows "WorstFit" class) or lenient servers map to ".", "/" or "\\",
// although NFKC leaves them alone.
var lookalike = map[rune]bool{
	'\u2215': true, '\u2044': true, '\u29f8': true, '\u2571': true, '\u27cb': true, // slashes
	'\u00a5': true, '\u20a9': true, '\u2216': true, '\u29f9': true, '\u2572': true, '\u27cd': true, // backslashes
	'\u3002': true, '\uff61': true, '\ufe12': true, '\u2219': true, '\u22c5': true, // dots
}

// unescapeAll decodes every escape of s, whose escapes are well formed.
func unescapeAll(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodeSegment decodes the escapes of unreserved characters in one path
// segment and uppercases the others. It reports whether an escape decoded
// to ".", and ok=false for a byte or escape CleanPath refuses.
func decodeSegment(s string) (seg string, encodedDot, ok bool) {
	if !strings.ContainsAny(s, "%\\ ?#") && !hasControl(s) {
		return s, false, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if isControl(c) || c == '\\' || c == ' ' || c == '?' || c == '#' {
				return "", false, false
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false, false
		}
		v := unhex(s[i+1])<<4 | unhex(s[i+2])
		i += 2
		switch {
		case isUnreserved(v):
			encodedDot = encodedDot || v == '.'
			b.WriteByte(v)
		case v == '/' || v == '\\' || isControl(v):
			return "", false, false
		default:
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[v>>4])
			b.WriteByte(hex[v&15])
		}
	}
	return b.String(), encodedDot, true
}

// doubleEncoded reports whether s holds "%25" followed by two hex digits.
func doubleEncoded(s string) bool {
	for {
		i := strings.Index(s, "%25")
		if i < 0 {
			return false
		}
		s = s[i+3:]
		if len(s) >= 2 && isHex(s[0]) && isHex(s[1]) {
			return true
		}
	}
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if isControl(s[i]) {
			return true
		}
	}
	return false
}

func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
