package dlp

import "regexp"

// The cheap pass of the inbound detector: one walk over the text finds
// the hint words every signal's expression needs, and where they are, so
// the expressions run only on short windows around them. Text without any
// hint (most API responses) is decided by this pass alone.

// hintGroup names which signal a hint gates.
type hintGroup uint8

const (
	gOverride  hintGroup = iota // "ignore previous instructions"
	gAuthority                  // "SYSTEM NOTICE", "<system>", "assistant:"
	gStealth                    // "do not tell the user"
	gTarget                     // "~/.ssh", "api key", "environment variables"
	gImage                      // "![", "<img": markdown or HTML image exfiltration
	gComment                    // "<!--"
	gStyle                      // "style=": CSS-hidden text
	gEntity                     // "&#8203;", "&lt;": HTML character references
	gJSON                       // "\u0069", "\n": JSON string escapes
	nGroups
)

// hintWords are lowercase ASCII, at least two bytes long. Each starts
// the phrases of its group's expression, which is anchored there; a hint
// only decides that the expression runs, it never grades.
var hintWords = [nGroups][]string{
	gOverride: {"ignore", "disregard", "forget", "overrid", "discard", "skip", "<|im_start", "you are now", "from now on",
		"new system prompt", "begin system prompt", "system prompt", "these instructions", "these rules", "these directives",
		"the following instructions", "the following rules", "the following directives", "take precedence",
		"your new", "your real", "your actual", "your true", "jailbr"},
	gAuthority: {"assistant", "human", "system", "admin", "developer", "operator", "attention", "note to", "note for",
		"message to", "message for", "<|", "<system", "</system", "<instruction", "</instruction", "<admin", "</admin",
		"[inst", "[/inst", "<<sys", "<</sys", "new instructions", "new directives", "instructions from",
		"message from", "orders from"},
	gStealth: {"do not", "don't", "dont", "never", "must not", "should not", "shouldn", "without", "silently",
		"secretly", "quietly", "covertly", "discreetly", "stealthily", "keep", "hide", "user must", "user should",
		"user need", "user will", "these instructions", "these steps", "these actions", "this instruction",
		"this step", "this action", "this message", "the following instructions", "the following steps"},
	// Target hints start the target: its expression is anchored there.
	gTarget: {"api", "access", "secret", "ssh", "signing", "private", "id_", ".ssh", ".env", "environment", "env var",
		"printenv", "`env", "env |", "env|", "os.environ", "process.env", ".netrc", ".npmrc", ".pypirc", ".git-cred", ".aws", ".kube", "/etc/shadow", "token", "passw",
		"passphrase", "credential", "creds", "kubeconfig", "keychain", "wallet"},
	gImage:   {"![", "<img"},
	gComment: {"<!--"},
	gStyle:   {"style"},
	gEntity: {"&#", "&lt;", "&gt;", "&zwj;", "&zwnj;", "&shy;", "&zerowidthspace;", "&nbsp;", "&lrm;", "&rlm;",
		"&lre;", "&rle;", "&lro;", "&rlo;", "&pdf;", "&wj;", "&nobreak;", "&invisible"},
	gJSON: {`\u`, `\n`},
}

// maxHits is how many hit positions of a group fit without allocating.
const maxHits = 48

// hints is what the cheap pass found.
type hints struct {
	n    [nGroups]int
	pos  [nGroups][maxHits]int32
	more [nGroups][]int32 // the hits past maxHits
	mask uint16
	// nonASCII: the text needs the normaliser (invisible characters,
	// homoglyphs, tag characters).
	nonASCII bool
	// spaced: a run of single letters between spaces ("i g n o r e").
	spaced bool
}

func (h *hints) has(g hintGroup) bool { return h.mask&(1<<g) != 0 }

// any reports whether a signal could match at all.
func (h *hints) any() bool { return h.mask != 0 || h.nonASCII || h.spaced }

// hintEntry is one hint word, indexed by its first two bytes.
type hintEntry struct {
	word  string
	group hintGroup
}

var (
	// lowerASCII folds A-Z; other bytes map to themselves.
	lowerASCII = func() (t [256]byte) {
		for i := range t {
			t[i] = byte(i)
			if 'A' <= i && i <= 'Z' {
				t[i] = byte(i) + 'a' - 'A'
			}
		}
		return t
	}()
	// hintSlot maps the first two lowercase bytes of a hint to its
	// entries' place in hintLists plus one; zero means no hint starts so.
	hintSlot  [1 << 16]uint8
	hintLists = [][]hintEntry{nil}
)

func init() {
	for g, words := range hintWords {
		for _, w := range words {
			k := uint16(w[0])<<8 | uint16(w[1])
			if hintSlot[k] == 0 {
				if len(hintLists) > 255 {
					panic("dlp: more than 255 two-byte hint prefixes")
				}
				hintSlot[k] = uint8(len(hintLists)) //nolint:gosec // G115: at most 255, checked above.
				hintLists = append(hintLists, nil)
			}
			hintLists[hintSlot[k]] = append(hintLists[hintSlot[k]], hintEntry{w, hintGroup(g)})
		}
	}
}

// scanHints walks text once.
func scanHints(text string) (h hints) {
	run, last := 0, -3
	for i := 0; i+1 < len(text); i++ {
		c := text[i]
		if c >= 0x80 {
			h.nonASCII = true
			continue
		}
		if c == ' ' {
			// A single letter between spaces (or at the start) that
			// follows another one two bytes back: a spaced-out word.
			if i > 0 && isASCIILetter(text[i-1]) && (i == 1 || text[i-2] == ' ') {
				if last == i-2 {
					run++
				} else {
					run = 1
				}
				last = i
				if run >= 6 {
					h.spaced = true
				}
			}
			continue
		}
		k := uint16(lowerASCII[c])<<8 | uint16(lowerASCII[text[i+1]])
		slot := hintSlot[k]
		if slot == 0 {
			continue
		}
		for _, e := range hintLists[slot] {
			if hasPrefixFold(text[i:], e.word) {
				g := e.group
				if h.n[g] < maxHits {
					h.pos[g][h.n[g]] = int32(i)
				} else {
					h.more[g] = append(h.more[g], int32(i))
				}
				h.n[g]++
				h.mask |= 1 << g
			}
		}
	}
	if n := len(text); n > 0 && text[n-1] >= 0x80 {
		h.nonASCII = true
	}
	return h
}

// hasPrefixFold reports whether s starts with the lowercase ASCII word w,
// ignoring ASCII case.
func hasPrefixFold(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for k := 2; k < len(w); k++ {
		if lowerASCII[s[k]] != w[k] {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return isASCIILetter(c) || '0' <= c && c <= '9' }

func isASCIILetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// each calls f with the position of every hit of g, in order, until f
// returns true; it reports whether one did.
func (h *hints) each(g hintGroup, f func(int) bool) bool {
	for _, p := range h.pos[g][:min(h.n[g], maxHits)] {
		if f(int(p)) {
			return true
		}
	}
	for _, p := range h.more[g] {
		if f(int(p)) {
			return true
		}
	}
	return false
}

// matchAt reports whether re, anchored at a hit of g that starts a word,
// matches within after bytes.
func (h *hints) matchAt(text string, g hintGroup, re *regexp.Regexp, after int) bool {
	return h.each(g, func(p int) bool {
		if p > 0 && isAlnum(text[p-1]) && isAlnum(text[p]) {
			return false
		}
		return re.MatchString(text[p:min(len(text), p+after)])
	})
}
