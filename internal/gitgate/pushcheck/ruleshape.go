package pushcheck

import (
	"math"
	"regexp/syntax"
	"slices"
	"strings"
)

// unbounded is maxNewlines' answer for a regexp whose matches can hold
// any number of newlines.
const unbounded = math.MaxInt32

// maxNewlines returns the most newlines a match of re can hold, or
// unbounded. It over-approximates: what matters is that no match holds
// more.
func maxNewlines(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return strings.Count(string(re.Rune), "\n")
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] <= '\n' && '\n' <= re.Rune[i+1] {
				return 1
			}
		}
		return 0
	case syntax.OpAnyChar:
		return 1
	case syntax.OpCapture, syntax.OpQuest:
		return maxNewlines(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		if maxNewlines(re.Sub[0]) > 0 {
			return unbounded
		}
		return 0
	case syntax.OpRepeat:
		n := maxNewlines(re.Sub[0])
		switch {
		case n == 0:
			return 0
		case re.Max < 0 || n == unbounded:
			return unbounded
		}
		return satMul(n, re.Max)
	case syntax.OpConcat:
		sum := 0
		for _, s := range re.Sub {
			sum = satAdd(sum, maxNewlines(s))
		}
		return sum
	case syntax.OpAlternate:
		most := 0
		for _, s := range re.Sub {
			most = max(most, maxNewlines(s))
		}
		return most
	default: // empty-width assertions, OpAnyCharNotNL, OpEmptyMatch, OpNoMatch
		return 0
	}
}

func satAdd(a, b int) int {
	if a >= unbounded-b {
		return unbounded
	}
	return a + b
}

func satMul(a, b int) int {
	if b != 0 && a >= unbounded/b {
		return unbounded
	}
	return a * b
}

// keywordFirst reports whether every match of re holds one of keywords
// (lowercase) on its first line: before the match's first newline. For
// such a rule, only lines holding a keyword can start a match.
func keywordFirst(re *syntax.Regexp, keywords []string) bool {
	if h, _ := heads(re); allKeyed(h, keywords) {
		return true
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return keywordFirst(re.Sub[0], keywords)
	case syntax.OpRepeat:
		return re.Min > 0 && keywordFirst(re.Sub[0], keywords)
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if !keywordFirst(s, keywords) {
				return false
			}
		}
		return len(re.Sub) > 0
	case syntax.OpConcat:
		// The keyword may start at any part, as long as no part before it
		// can match a newline. The parser splits literals (A(?:KIA|SIA)),
		// so heads joins the parts that follow.
		for i, s := range re.Sub {
			if h, _ := headsConcat(re.Sub[i:]); allKeyed(h, keywords) || keywordFirst(s, keywords) {
				return true
			}
			if maxNewlines(s) > 0 {
				return false
			}
		}
		return false
	default: // a part whose heads hold no keyword
		return false
	}
}

// allKeyed reports whether each of strs, lowercased as gitleaks lowercases
// the text it looks for keywords in, holds a keyword before any newline.
func allKeyed(strs, keywords []string) bool {
	for _, s := range strs {
		first, _, _ := strings.Cut(strings.ToLower(s), "\n")
		if !slices.ContainsFunc(keywords, func(k string) bool { return strings.Contains(first, k) }) {
			return false
		}
	}
	return len(strs) > 0
}

// headsLimit bounds the strings heads enumerates.
const headsLimit = 256

// heads returns strings one of which starts every match of re, and
// whether they are exactly the strings re matches. Knowing nothing, it
// returns [""].
func heads(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpLiteral:
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) == 8 {
					return []string{""}, false
				}
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpCapture:
		return heads(re.Sub[0])
	case syntax.OpQuest:
		h, exact := heads(re.Sub[0])
		return append(h, ""), exact
	case syntax.OpPlus:
		h, _ := heads(re.Sub[0])
		return h, false
	case syntax.OpRepeat:
		return headsRepeat(re)
	case syntax.OpConcat:
		return headsConcat(re.Sub)
	case syntax.OpAlternate:
		var out []string
		exact := true
		for _, s := range re.Sub {
			h, e := heads(s)
			if len(out)+len(h) > headsLimit {
				return []string{""}, false
			}
			out, exact = append(out, h...), exact && e
		}
		return out, exact
	default: // star, any character, no match: nothing known
		return []string{""}, false
	}
}

func headsConcat(subs []*syntax.Regexp) ([]string, bool) {
	out := []string{""}
	for _, s := range subs {
		h, exact := heads(s)
		joined := product(out, h)
		if joined == nil {
			return out, false
		}
		if out = joined; !exact {
			return out, false
		}
	}
	return out, true
}

func headsRepeat(re *syntax.Regexp) ([]string, bool) {
	h, exact := heads(re.Sub[0])
	switch {
	case exact && re.Max >= 0 && re.Max <= 4:
		var out []string
		cur := []string{""}
		for n := 0; n <= re.Max; n++ {
			if n >= re.Min {
				out = append(out, cur...)
			}
			if n < re.Max {
				if cur = product(cur, h); cur == nil {
					return []string{""}, false
				}
			}
		}
		if len(out) > headsLimit {
			return []string{""}, false
		}
		return out, true
	case re.Min > 0:
		return h, false
	}
	return []string{""}, false
}

// product returns every a followed by every b, or nil when there would be
// more than headsLimit.
func product(as, bs []string) []string {
	if len(as)*len(bs) > headsLimit {
		return nil
	}
	out := make([]string, 0, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			out = append(out, a+b)
		}
	}
	return out
}
