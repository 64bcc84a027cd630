package dlp

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// evasion records how a text hid its words from a reader or a scanner.
type evasion uint8

const (
	evZeroWidth evasion = 1 << iota // invisible characters inside a word: "ig\u200bnore"
	evBidi                          // bidirectional overrides reorder what is shown
	evHomoglyph                     // a look-alike letter inside a Latin word: Cyrillic "о" in "ignоre"
	evStyled                        // mathematical styled letters: "𝐢𝐠𝐧𝐨𝐫𝐞"
	evSpaced                        // letters spaced out: "i g n o r e"
)

func (e evasion) String() string {
	switch {
	case e&evZeroWidth != 0:
		return "zero-width characters inside words"
	case e&evBidi != 0:
		return "bidirectional override characters"
	case e&evHomoglyph != 0:
		return "look-alike letters from another script"
	case e&evStyled != 0:
		return "styled Unicode letters"
	case e&evSpaced != 0:
		return "spaced-out letters"
	}
	return ""
}

// normalized is a text as the detector reads it.
type normalized struct {
	// text has invisible and bidi characters removed, Unicode tag
	// characters decoded in place, look-alike, full-width and styled
	// letters folded to ASCII and exotic spaces made plain. It is never
	// longer than the input.
	text string
	// tags is the text that was hidden in tag characters, outside flag
	// emoji (the tags' one legitimate use).
	tags string
	ev   evasion
}

// letter kinds of the last visible rune, to tell a look-alike or an
// invisible character inside a Latin word from one in foreign text.
const (
	kindOther = iota
	kindASCII
	kindHomoglyph
)

// blackFlag starts emoji tag sequences (subdivision flags).
const blackFlag = 0x1F3F4

// normalizeInbound rewrites s for scanning (see normalized). Each byte
// that is not valid UTF-8 becomes "?".
func normalizeInbound(s string) normalized {
	var b, tags strings.Builder
	b.Grow(len(s))
	var n normalized
	prev, last := kindOther, rune(0)
	invisible := false // an invisible character since the last visible one
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			// Not the raw byte: with what is dropped around it, stray
			// bytes could join into a character of their own.
			b.WriteByte('?')
			prev, invisible = kindOther, false
		case r < utf8.RuneSelf:
			c := s[i]
			if isASCIILetter(c) {
				if invisible && prev == kindASCII {
					n.ev |= evZeroWidth
				}
				if prev == kindHomoglyph {
					n.ev |= evHomoglyph
				}
				prev = kindASCII
			} else {
				prev = kindOther
			}
			invisible = false
			b.WriteByte(c)
		case 0xE0000 <= r && r <= 0xE007F:
			end, text, cancelled := tagRun(s[i:])
			if last != blackFlag || !cancelled || !isFlagTag(text) {
				// Spaces keep the decoded text from joining the words
				// around it; it is never longer than the tags it
				// replaces (four bytes each).
				b.WriteByte(' ')
				b.WriteString(text)
				b.WriteByte(' ')
				tags.WriteString(text)
				tags.WriteByte(' ')
			}
			i += end
			prev, invisible = kindOther, false
			continue
		case isInvisible(r):
			// Soft hyphens break words legitimately (&shy;).
			if r != 0xAD {
				invisible = true
			}
		case isBidiControl(r):
			n.ev |= evBidi
		case 0x300 <= r && r <= 0x36F:
			// Combining diacritics: "i̇gnore" reads as "ignore".
		case isSpace(r):
			b.WriteByte(' ')
			prev, invisible = kindOther, false
		case r == 0x2018 || r == 0x2019 || r == 0x201B || r == 0x2032:
			// Curly apostrophes: "don’t" reads "don't".
			b.WriteByte('\'')
			prev, invisible = kindOther, false
		case r == 0x2028 || r == 0x2029:
			b.WriteByte('\n')
			prev, invisible = kindOther, false
		case 0xFF01 <= r && r <= 0xFF5E:
			// Full-width ASCII, as East Asian text writes it.
			c := byte(r - 0xFEE0)
			b.WriteByte(c)
			prev = kindOther
			if isASCIILetter(c) {
				prev = kindASCII
			}
			invisible = false
		case 0x1D400 <= r && r <= 0x1D6A3:
			// Mathematical alphanumerics: 13 styles of A-Z a-z.
			k := byte((r - 0x1D400) % 52)
			c := 'A' + k
			if k >= 26 {
				c = 'a' + k - 26
			}
			b.WriteByte(c)
			n.ev |= evStyled
			prev, invisible = kindASCII, false
		default:
			if c, ok := homoglyphs[r]; ok {
				if prev == kindASCII {
					n.ev |= evHomoglyph
				}
				b.WriteByte(c)
				prev = kindHomoglyph
			} else {
				b.WriteString(s[i : i+size])
				prev = kindOther
			}
			invisible = false
		}
		last = r
		i += size
	}
	n.text = b.String()
	n.tags = tags.String()
	return n
}

// tagRun decodes the run of tag characters at the start of s: it returns
// how many bytes the run takes, the ASCII it spells and whether it ended
// with CANCEL TAG (U+E007F).
func tagRun(s string) (int, string, bool) {
	var b strings.Builder
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0xE0000 || r > 0xE007F {
			break
		}
		i += size
		switch {
		case r == 0xE007F:
			return i, b.String(), true
		case 0xE0020 <= r && r <= 0xE007E:
			b.WriteByte(byte(r - 0xE0000))
		}
	}
	return i, b.String(), false
}

// isFlagTag reports whether t spells a subdivision flag's region code
// ("gbeng", "usca").
func isFlagTag(t string) bool {
	if len(t) < 2 || len(t) > 7 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// isInvisible reports format and filler characters that show nothing.
func isInvisible(r rune) bool {
	switch {
	case r == 0xAD, r == 0x34F, r == 0x61C, r == 0x115F, r == 0x1160, r == 0x17B4, r == 0x17B5, r == 0x180E,
		r == 0x3164, r == 0xFEFF, r == 0xFFA0:
		return true
	case 0x200B <= r && r <= 0x200F, 0x2060 <= r && r <= 0x2064, 0xFE00 <= r && r <= 0xFE0F:
		return true
	}
	return false
}

// isBidiControl reports the embedding, override and isolate controls.
func isBidiControl(r rune) bool {
	return 0x202A <= r && r <= 0x202E || 0x2066 <= r && r <= 0x2069
}

// isSpace reports spaces other than ASCII ones, which the expressions'
// \s does not match.
func isSpace(r rune) bool {
	return r == 0xA0 || r == 0x1680 || 0x2000 <= r && r <= 0x200A || r == 0x202F || r == 0x205F || r == 0x3000
}

// homoglyphs folds Cyrillic and Greek letters that look like Latin ones
// (after Unicode's confusables list, the common ones only).
var homoglyphs = map[rune]byte{
	// Cyrillic
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'һ': 'h', 'і': 'i', 'ї': 'i', 'ј': 'j', 'к': 'k', 'ӏ': 'l', 'м': 'm',
	'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w',
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T', 'Х': 'X',
	'І': 'I', 'Ј': 'J', 'Ѕ': 'S', 'Ү': 'Y', 'Ԁ': 'D',
	// Greek
	'α': 'a', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ο': 'O',
	'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
	// Latin look-alikes
	'ı': 'i', 'ɡ': 'g', 'ɑ': 'a', 'ⅰ': 'i', 'ℓ': 'l',
}

// collapseSpaced joins letters spaced out one by one ("i g n o r e  a l l"
// reads "ignore all"): a space between two single-character tokens goes.
// Runs of spaces between such words become one. The result is never
// longer than s.
func collapseSpaced(s string) string {
	single := func(i int) bool { // s[i] is a one-character token
		return i >= 0 && i < len(s) && s[i] != ' ' && (i == 0 || s[i-1] == ' ') && (i+1 == len(s) || s[i+1] == ' ')
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && single(i-1) {
			j := i
			for j < len(s) && s[j] == ' ' {
				j++
			}
			switch {
			case j == i+1 && single(j):
				continue // "a b" inside a spaced word
			case j > i+1:
				b.WriteByte(' ') // the gap between two spaced words
				i = j - 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// jsonUnescape decodes the escapes of JSON strings wherever they are in
// s: \uXXXX (and surrogate pairs), \n, \r, \t, \", \/ and \\. Anything
// else is kept as it is. The result is never longer than s.
func jsonUnescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch c := s[i+1]; c {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '"', '/', '\\':
			b.WriteByte(c)
		case 'u':
			r, ok := hex4(s[i+2:])
			if !ok {
				b.WriteByte('\\')
				continue
			}
			n := 6
			if utf16.IsSurrogate(r) {
				if lo, ok := hex4(s[min(len(s), i+8):]); ok && strings.HasPrefix(s[i+6:], `\u`) {
					if pair := utf16.DecodeRune(r, lo); pair != utf8.RuneError {
						r, n = pair, 12
					}
				}
			}
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError // a lone surrogate: 3 bytes for 6
			}
			b.WriteRune(r)
			i += n - 1
			continue
		default:
			b.WriteByte('\\')
			continue
		}
		i++
	}
	return b.String()
}

// hex4 decodes four hex digits at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := range 4 {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			c = c | 0x20 - 'a' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
