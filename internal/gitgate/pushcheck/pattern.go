package pushcheck

import "strings"

// pattern is a compiled branch or path glob: "*" matches within one
// "/"-separated segment, "**" matches across segments, and everything
// else is literal. A "**" that is a whole segment followed by "/" also
// matches no segment at all, so "a/**/b" matches a/b and "**/x" matches
// x, as in gitignore.
type pattern struct {
	raw  string
	toks []token
}

type tokenKind uint8

const (
	literal tokenKind = iota
	// star matches any run of characters other than "/".
	star
	// anything matches any run of characters.
	anything
	// dirs matches "" or any run ending in "/": zero or more whole
	// segments with their separators.
	dirs
)

type token struct {
	kind tokenKind
	lit  string
}

func compilePattern(raw string) pattern {
	p := pattern{raw: raw}
	for i := 0; i < len(raw); {
		switch {
		case strings.HasPrefix(raw[i:], "**"):
			segStart := i == 0 || raw[i-1] == '/'
			if segStart && strings.HasPrefix(raw[i+2:], "/") {
				p.toks = append(p.toks, token{kind: dirs})
				i += 3
			} else {
				p.toks = append(p.toks, token{kind: anything})
				i += 2
			}
		case raw[i] == '*':
			p.toks = append(p.toks, token{kind: star})
			i++
		default:
			j := strings.IndexByte(raw[i:], '*')
			if j < 0 {
				j = len(raw) - i
			}
			p.toks = append(p.toks, token{kind: literal, lit: raw[i : i+j]})
			i += j
		}
	}
	return p
}

// match reports whether the pattern matches all of s. It tracks the set
// of positions in s the tokens so far can end at, so it takes
// O(len(tokens) * len(s)) whatever the pattern.
func (p pattern) match(s string) bool {
	at := make([]bool, len(s)+1)
	next := make([]bool, len(s)+1)
	at[0] = true
	for _, t := range p.toks {
		clear(next)
		first := -1 // the first position reached so far
		for i, ok := range at {
			if !ok {
				continue
			}
			if first < 0 {
				first = i
			}
			switch t.kind {
			case literal:
				if strings.HasPrefix(s[i:], t.lit) {
					next[i+len(t.lit)] = true
				}
			case star:
				next[i] = true
				// Stop where an earlier start already reached: it went on
				// to the same "/".
				for j := i; j < len(s) && s[j] != '/' && !next[j+1]; j++ {
					next[j+1] = true
				}
			case dirs:
				next[i] = true
			default: // anything: below, from the first position
			}
		}
		if first < 0 {
			return false
		}
		// From the first position, anything and dirs reach every later
		// position they can; later starts reach nothing more.
		switch t.kind {
		case anything:
			for j := first; j <= len(s); j++ {
				next[j] = true
			}
		case dirs:
			for j := first; j < len(s); j++ {
				if s[j] == '/' {
					next[j+1] = true
				}
			}
		default: // done above
		}
		at, next = next, at
	}
	return at[len(s)]
}

// matchAny reports whether any of ps matches s.
func matchAny(ps []pattern, s string) bool {
	for _, p := range ps {
		if p.match(s) {
			return true
		}
	}
	return false
}
