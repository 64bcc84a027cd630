package dlp

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Redacted replaces a secret in what the sidecar records.
const Redacted = "[REDACTED]"

// Redactor removes the known secrets, in every form the DLP recognises,
// from text the sidecar hands back to the agent (responses) or writes down
// (audit events, logs, refusals). It is safe for concurrent use; a nil
// Redactor redacts nothing.
type Redactor struct {
	// exact are the forms as they appear in responses, longest first.
	exact [][]byte
	// lower are the forms ASCII-lowercased, for records, where host
	// names arrive lowercased.
	lower []string
	// stripped are the values with separators removed, lowercased.
	stripped []string
	// patterns runs the token-pattern rules over records too.
	patterns bool

	// The sampled 4-gram index over exact (see find).
	short  [][]byte
	grams  map[uint32][]gramAt
	filter []uint64
	stride int
	// byFirst indexes exact by first byte, for the hold-back check.
	byFirst [256][]int
	// maxLen is the longest form; maxSpan the longest raw text a form
	// can take once escaped (\u0041 is six bytes for one). minField is
	// the shortest text that can hold a secret in any form.
	maxLen, maxSpan, minField int
}

type gramAt struct{ needle, off int }

const gram = 4

// filterBits sizes the 4-gram filter: 2^16 bits, 8 KiB, fits L1.
const filterBits = 16

// NewRedactor builds a redactor for secrets; with patterns, records are
// also run through the token-pattern rules.
func NewRedactor(secrets []Secret, patterns bool) *Redactor {
	r := &Redactor{patterns: patterns, grams: map[uint32][]gramAt{}, filter: make([]uint64, 1<<filterBits/64)}
	for _, s := range secrets {
		v := s.Value.Reveal()
		if v == "" {
			continue
		}
		for _, f := range Forms(v) {
			if !slices.ContainsFunc(r.exact, func(b []byte) bool { return string(b) == f }) {
				r.exact = append(r.exact, []byte(f))
			}
			if l := asciiLower(f); !slices.Contains(r.lower, l) {
				r.lower = append(r.lower, l)
			}
		}
		if st := strip(asciiLower(v)); len(st) >= MinSecretLen {
			r.stripped = append(r.stripped, st)
		}
		if r.minField == 0 || len(v) < r.minField {
			// Every form is at least as long as the value but the base64
			// ones, and those are over 3/4 of it.
			r.minField = max(1, len(v)*3/4-2)
		}
		if st := strip(asciiLower(v)); len(st) >= MinSecretLen {
			r.minField = min(r.minField, len(st))
		}
		r.maxSpan = max(r.maxSpan, 6*len(v))
	}
	slices.SortFunc(r.exact, func(a, b []byte) int { return len(b) - len(a) })
	minLen := 0
	for _, n := range r.exact {
		r.maxLen = max(r.maxLen, len(n))
		if len(n) < 2*gram {
			r.short = append(r.short, n)
			continue
		}
		if minLen == 0 || len(n) < minLen {
			minLen = len(n)
		}
	}
	r.maxSpan = max(r.maxSpan, r.maxLen)
	r.stride = max(1, minLen-gram+1)
	for i, n := range r.exact {
		r.byFirst[n[0]] = append(r.byFirst[n[0]], i)
	}
	for i, n := range r.exact {
		if len(n) < 2*gram {
			continue
		}
		for off := 0; off+gram <= len(n); off++ {
			g := binary.LittleEndian.Uint32(n[off:])
			r.grams[g] = append(r.grams[g], gramAt{i, off})
			h := gramHash(g)
			r.filter[h/64] |= 1 << (h % 64)
		}
	}
	return r
}

func gramHash(g uint32) uint32 { return (g * 0x9E3779B1) >> (32 - filterBits) }

// Forms returns the forms of a secret value that redaction looks for:
// the value, and for values of MinSecretLen or more its base64 (standard
// and URL alphabets, at each alignment), hex, URL-encoded and
// JSON-escaped forms.
func Forms(v string) []string {
	out := []string{v}
	if len(v) < MinSecretLen {
		return out
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, base64Cores(enc, v)...)
	}
	var ju, jU strings.Builder
	for i := 0; i < len(v); i++ {
		fmt.Fprintf(&ju, `\u%04x`, v[i])
		fmt.Fprintf(&jU, `\u%04X`, v[i])
	}
	out = append(out, hex.EncodeToString([]byte(v)), strings.ToUpper(hex.EncodeToString([]byte(v))),
		url.QueryEscape(v), url.PathEscape(v), percentAll(v), strings.ToLower(percentAll(v)),
		ju.String(), jU.String(), strings.ReplaceAll(v, "/", `\/`))
	var uniq []string
	for _, f := range out {
		if f != "" && !slices.Contains(uniq, f) {
			uniq = append(uniq, f)
		}
	}
	return uniq
}

func alnumCount(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			n++
		}
	}
	return n
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// HasSecrets reports whether r holds secret values to look for.
func (r *Redactor) HasSecrets() bool { return r != nil && len(r.exact) > 0 }

// Active reports whether r has anything to redact.
func (r *Redactor) Active() bool { return r != nil && (len(r.exact) > 0 || r.patterns) }

// String redacts one recorded field: every known-secret form in it,
// ignoring ASCII case, is replaced by Redacted; a field that holds a
// secret only once percent- or JSON-decoded, or with its separators
// removed, is replaced whole; with patterns, token-pattern matches are
// replaced too.
func (r *Redactor) String(s string) string {
	out := []string{s}
	r.Strings(out)
	return out[0]
}

// Strings redacts each field of fs in place, running the token patterns
// once over all of them.
func (r *Redactor) Strings(fs []string) {
	if r != nil {
		r.strings(fs, r.patterns)
	}
}

// KnownStrings redacts each field of fs in place from the known secrets
// only: for fields the token patterns already passed.
func (r *Redactor) KnownStrings(fs []string) { r.strings(fs, false) }

func (r *Redactor) strings(fs []string, patterns bool) {
	if !r.Active() {
		return
	}
	for i, s := range fs {
		fs[i] = r.known(s)
	}
	if !patterns {
		return
	}
	found, err := ScanPatterns("record", strings.Join(fs, "\n"), false)
	if err != nil {
		// Records must not hold what could not be checked.
		for i, s := range fs {
			if s != "" {
				fs[i] = "[UNSCANNED]"
			}
		}
		return
	}
	for _, f := range found {
		for i := range fs {
			if f.text != "" {
				fs[i] = strings.ReplaceAll(fs[i], f.text, Redacted)
			}
		}
	}
}

// Known redacts the known secrets from one response header value, as
// String does without the token patterns nor the separator-stripped
// check (an upstream reflects values, it does not re-split them).
func (r *Redactor) Known(s string) string {
	if !r.Active() {
		return s
	}
	return r.knownForms(s, false)
}

func (r *Redactor) known(s string) string { return r.knownForms(s, true) }

func (r *Redactor) knownForms(s string, stripped bool) string {
	if len(s) < r.minField || len(r.lower) == 0 {
		return s
	}
	ls := asciiLower(s)
	var spans [][2]int
	for _, n := range r.lower {
		for i := 0; ; {
			j := strings.Index(ls[i:], n)
			if j < 0 {
				break
			}
			spans = append(spans, [2]int{i + j, i + j + len(n)})
			i += j + 1
		}
	}
	if len(spans) > 0 {
		s = string(replaceSpans([]byte(s), spans, false))
		ls = asciiLower(s)
	}
	if strings.ContainsAny(ls, `%\`) {
		d := ls
		for range 3 {
			dv, _ := decodeView([]byte(d))
			if string(dv) == d {
				break
			}
			d = asciiLower(string(dv))
			for _, n := range r.lower {
				if strings.Contains(d, n) {
					return Redacted
				}
			}
		}
	}
	if stripped && len(r.stripped) > 0 && alnumCount(ls) >= r.minField {
		st := strip(ls)
		for _, n := range r.stripped {
			if strings.Contains(st, n) {
				return Redacted
			}
		}
	}
	return s
}

// mergeSpans sorts spans and joins the overlapping ones.
func mergeSpans(spans [][2]int) [][2]int {
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 && sp[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

// replaceSpans replaces each span of b: by Redacted, or with sameLen by a
// mask of the span's length (so that a body keeps its Content-Length).
func replaceSpans(b []byte, spans [][2]int, sameLen bool) []byte {
	spans = mergeSpans(spans)
	var out []byte
	if sameLen {
		for _, sp := range spans {
			copy(b[sp[0]:sp[1]], mask(sp[1]-sp[0]))
		}
		return b
	}
	last := 0
	for _, sp := range spans {
		out = append(out, b[last:sp[0]]...)
		out = append(out, Redacted...)
		last = sp[1]
	}
	return append(out, b[last:]...)
}

// mask is what replaces n bytes of a response: Redacted padded with '*',
// or '*' alone when n is shorter.
func mask(n int) []byte {
	if n < len(Redacted) {
		return bytes.Repeat([]byte("*"), n)
	}
	return append([]byte(Redacted), bytes.Repeat([]byte("*"), n-len(Redacted))...)
}

// find returns the spans of b that hold an exact form. It samples one
// 4-gram every stride bytes, where stride is the shortest long form less
// the gram plus one, so every occurrence of a long form contains a
// sampled gram; short forms are searched plainly.
func (r *Redactor) find(b []byte, spans [][2]int) [][2]int {
	for _, n := range r.short {
		for i := 0; ; {
			j := bytes.Index(b[i:], n)
			if j < 0 {
				break
			}
			spans = append(spans, [2]int{i + j, i + j + len(n)})
			i += j + 1
		}
	}
	if len(r.grams) == 0 {
		return spans
	}
	for p := 0; p+gram <= len(b); p += r.stride {
		g := binary.LittleEndian.Uint32(b[p:])
		h := gramHash(g)
		if r.filter[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		for _, ga := range r.grams[g] {
			n := r.exact[ga.needle]
			s := p - ga.off
			if s >= 0 && s+len(n) <= len(b) && bytes.Equal(b[s:s+len(n)], n) {
				spans = append(spans, [2]int{s, s + len(n)})
			}
		}
	}
	return spans
}

// hold returns the index from which b's tail could be the start of a
// form that the next bytes complete.
func (r *Redactor) hold(b []byte) int {
	for p := max(0, len(b)-r.maxLen+1); p < len(b); p++ {
		for _, i := range r.byFirst[b[p]] {
			if n := r.exact[i]; len(n) > len(b)-p && bytes.HasPrefix(n, b[p:]) {
				return p
			}
		}
	}
	return len(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func hexByte(b []byte) (byte, bool) {
	var v byte
	for _, c := range b {
		d, ok := unhex(c)
		if !ok {
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

// decodeView decodes percent escapes (%41), JSON and JavaScript escapes of
// ASCII characters (\u0041, \x41, \/, \\, \") in b. An escape cut off at
// the end of b is left as it is. The view maps back to b with rawPos.
func decodeView(b []byte) (dv []byte, m escMap) { return decodeViewInto(b, nil) }

// scratch holds a decoded view's buffers between reads of one stream.
type scratch struct {
	dv  []byte
	pts []escPoint
}

// decodeViewInto is decodeView reusing sc's buffers when sc is set.
func decodeViewInto(b []byte, sc *scratch) (dv []byte, m escMap) {
	if sc != nil {
		dv, m.points = sc.dv[:0], sc.pts[:0]
		defer func() { sc.dv, sc.pts = dv, m.points }()
	}
	if cap(dv) < len(b) {
		dv = make([]byte, 0, len(b))
	}
	m.rawLen = len(b)
	nextPct, nextBs := -2, -2
	for i := 0; i < len(b); {
		if nextPct < i && nextPct != -1 {
			if nextPct = bytes.IndexByte(b[i:], '%'); nextPct >= 0 {
				nextPct += i
			}
		}
		if nextBs < i && nextBs != -1 {
			if nextBs = bytes.IndexByte(b[i:], '\\'); nextBs >= 0 {
				nextBs += i
			}
		}
		j := len(b)
		if nextPct >= 0 {
			j = nextPct
		}
		if nextBs >= 0 && nextBs < j {
			j = nextBs
		}
		dv = append(dv, b[i:j]...)
		if j == len(b) {
			break
		}
		c, w := b[j], 1
		switch {
		case c == '%' && j+3 <= len(b):
			if v, ok := hexByte(b[j+1 : j+3]); ok {
				c, w = v, 3
			}
		case c == '\\' && j+1 < len(b):
			switch b[j+1] {
			case 'u':
				if j+6 <= len(b) {
					if hi, ok := hexByte(b[j+2 : j+4]); ok && hi == 0 {
						if v, ok := hexByte(b[j+4 : j+6]); ok && v < 0x80 {
							c, w = v, 6
						}
					}
				}
			case 'x':
				if j+4 <= len(b) {
					if v, ok := hexByte(b[j+2 : j+4]); ok && v < 0x80 {
						c, w = v, 4
					}
				}
			case '/', '\\', '"':
				c, w = b[j+1], 2
			}
		}
		if w > 1 {
			m.points = append(m.points, escPoint{d: len(dv), raw: j, w: w})
		}
		dv = append(dv, c)
		i = j + w
	}
	return dv, m
}

// escMap maps a decoded view back to its raw text: one point per escape.
type escMap struct {
	points []escPoint
	rawLen int
}

type escPoint struct{ d, raw, w int }

// rawPos returns where decoded byte d starts in the raw text.
func (m escMap) rawPos(d int) int {
	i, found := slices.BinarySearchFunc(m.points, d, func(p escPoint, d int) int { return p.d - d })
	if found {
		return m.points[i].raw
	}
	if i == 0 {
		return d
	}
	p := m.points[i-1]
	return p.raw + p.w + (d - p.d - 1)
}

// hasEscape reports whether b may hold an escape decodeView decodes.
func hasEscape(b []byte) bool {
	return bytes.IndexByte(b, '%') >= 0 || bytes.Contains(b, []byte(`\u00`)) ||
		bytes.Contains(b, []byte(`\x`)) || bytes.Contains(b, []byte(`\/`))
}
