package pushcheck

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/report"
	"github.com/zricethezav/gitleaks/v8/sources"
)

// allowMarker is what gitleaks looks for on a line to skip its findings.
const allowMarker = "gitleaks:allow"

// finding is one secret in a file's added lines.
type finding struct {
	rule string
	// line and endLine are the lines of the match in the new file,
	// counted from 1; 0 when the rule matched the path alone.
	line, endLine int
	column        int
	// secret tells duplicates apart and lets a specific rule take
	// precedence over a generic one, as in gitleaks.
	// Security: it never leaves this package.
	secret string
	// suppressed is set when a line of the match carried allowMarker;
	// reason is the text after the marker (untrusted, and withheld when
	// it holds a secret of the file).
	suppressed bool
	reason     string
}

// maxReason caps a marker's reason.
const maxReason = 200

// scanFile scans the added lines of a file: content is the new file,
// starts its lineStarts, and runs the ranges of added lines. The
// gitleaks:allow marker is blanked before scanning, so a marked line is
// scanned as if unmarked, and findings on marked lines come back
// suppressed. It also returns how many bytes it scanned.
func (d *Detector) scanFile(ctx context.Context, path, content string, starts []int, runs []lineRange) ([]finding, int) {
	if d.pathAllowed(path) {
		return nil, 0
	}
	var out []finding
	scanned := 0
	for _, r := range runs {
		lo := starts[r.first-1]
		text := content[lo:starts[r.last]]
		scanned += len(text)
		var marked []int
		var reasons map[int]string
		if strings.Contains(text, allowMarker) {
			reasons = markerReasons(text, r.first)
			text, marked = blankMarkers(text, r.first)
		}
		rel := make([]int, r.last-r.first+2)
		for i := range rel {
			rel[i] = starts[r.first-1+i] - lo
		}
		for _, f := range toFindings(d.scanRun(ctx, path, text, rel, r.first)) {
			f.suppressed = anyIn(marked, f.line, f.endLine)
			if f.suppressed {
				for l := f.line; l <= max(f.line, f.endLine); l++ {
					if s, ok := reasons[l]; ok {
						f.reason = s
						break
					}
				}
			}
			out = append(out, f)
		}
	}
	out = dedupe(out)
	// Security: a reason that holds any secret found in the file is
	// withheld; it goes to the operator's screen and the audit.
	for i := range out {
		for _, g := range out {
			if out[i].reason != "" && g.secret != "" && strings.Contains(out[i].reason, g.secret) {
				out[i].reason = "[withheld: it holds a potential secret]"
			}
		}
	}
	return out, scanned
}

// scanPath runs the rules that look at a file's path alone (such as
// pkcs12-file), for a file whose content is not scanned.
func (d *Detector) scanPath(ctx context.Context, path string) []finding {
	if d.pathAllowed(path) {
		return nil
	}
	return dedupe(toFindings(detectIn(ctx, d.rest, "", path, 0)))
}

// detectIn runs det over raw, lines of path from line startLine.
func detectIn(ctx context.Context, det *detect.Detector, raw, path string, startLine int) []report.Finding {
	frag := sources.Fragment{Raw: raw, FilePath: path, StartLine: startLine}
	return det.DetectContext(ctx, detect.Fragment(frag)) //nolint:staticcheck // SA1019: v8's DetectContext takes detect.Fragment; v9 replaces it with sources.Fragment.
}

func toFindings(fs []report.Finding) []finding {
	out := make([]finding, 0, len(fs))
	for _, f := range fs {
		out = append(out, finding{rule: f.RuleID, line: f.StartLine, endLine: f.EndLine, column: f.StartColumn, secret: f.Secret})
	}
	return out
}

// scanRun scans text, whole lines of path starting at line first, whose
// lines start at starts (then len(text)). The rules that are not keyed
// see all of it; each keyed rule sees windows from the lines holding its
// keywords; decoding sees the lines around encoded segments. Windows
// overlap, so findings repeat; dedupe drops the repeats.
func (d *Detector) scanRun(ctx context.Context, path, text string, starts []int, first int) []report.Finding {
	n := len(starts) - 1
	var out []report.Finding
	scan := func(det *detect.Detector, from, to int) {
		out = append(out, detectIn(ctx, det, text[starts[from]:starts[to+1]], path, first+from)...)
	}
	scan(d.rest, 0, n-1)
	for i, lines := range d.keywordLines(text, starts) {
		if len(lines) == 0 || anyPathAllowed(d.keyed[i].pathAllowlists, path) {
			continue
		}
		for _, w := range windows(lines, 0, d.keyed[i].reach, n) {
			scan(d.keyed[i].det, w.first, w.last)
		}
	}
	for _, w := range windows(encodedLines(text, starts), d.decodeReach, d.decodeReach, n) {
		scan(d.decoding, w.first, w.last)
	}
	return out
}

// keywordLines returns, for each keyed rule, the indexes of the lines of
// text that hold one of its keywords, lowercased as gitleaks lowercases.
func (d *Detector) keywordLines(text string, starts []int) [][]int {
	lower, lstarts := lowerLines(text, starts)
	out := make([][]int, len(d.keyed))
	line := 0
	d.trie.Walk(lower, func(end, n, pattern int64) bool {
		for int(end-n+1) >= lstarts[line+1] {
			line++
		}
		for _, k := range d.byKeyword[pattern] {
			if l := out[k]; len(l) == 0 || l[len(l)-1] != line {
				out[k] = append(l, line)
			}
		}
		return true
	})
	return out
}

// lowerLines lowercases text as strings.ToLower does, and returns where
// its lines start in the result. Only non-ASCII text can change length.
func lowerLines(text string, starts []int) ([]byte, []int) {
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		b := []byte(text)
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return b, starts
	}
	b := make([]byte, 0, len(text))
	lstarts := make([]int, 0, len(starts))
	for i := 0; i+1 < len(starts); i++ {
		lstarts = append(lstarts, len(b))
		b = append(b, strings.ToLower(text[starts[i]:starts[i+1]])...)
	}
	return b, append(lstarts, len(b))
}

// windows merges, for each of the sorted line indexes, the lines from
// before lines above it to after lines below it, within [0, n).
func windows(lines []int, before, after, n int) []lineRange {
	var out []lineRange
	for _, l := range lines {
		lo, hi := max(0, l-before), min(n-1, l+after)
		if k := len(out) - 1; k >= 0 && lo <= out[k].last+1 {
			out[k].last = max(out[k].last, hi)
			continue
		}
		out = append(out, lineRange{lo, hi})
	}
	return out
}

// blankMarkers replaces each allowMarker in text with spaces and returns
// the lines (numbered from first) that held one.
func blankMarkers(text string, first int) (string, []int) {
	var marked []int
	b := []byte(text)
	line, pos := first, 0
	for {
		i := strings.Index(text[pos:], allowMarker)
		if i < 0 {
			break
		}
		line += strings.Count(text[pos:pos+i], "\n")
		if len(marked) == 0 || marked[len(marked)-1] != line {
			marked = append(marked, line)
		}
		for j := pos + i; j < pos+i+len(allowMarker); j++ {
			b[j] = ' '
		}
		pos += i + len(allowMarker)
	}
	return string(b), marked
}

// markerReasons maps each line of text (the first being first) that
// carries allowMarker to the text after its last marker, trimmed and
// capped at maxReason bytes.
func markerReasons(text string, first int) map[int]string {
	out := map[int]string{}
	for i, line := range strings.Split(text, "\n") {
		j := strings.LastIndex(line, allowMarker)
		if j < 0 {
			continue
		}
		r := strings.TrimSpace(line[j+len(allowMarker):])
		r = strings.TrimSpace(strings.TrimLeft(r, ":-"))
		if len(r) > maxReason {
			r = strings.ToValidUTF8(r[:maxReason], "")
		}
		out[first+i] = r
	}
	return out
}

func anyIn(sorted []int, lo, hi int) bool {
	i, _ := slices.BinarySearch(sorted, lo)
	return i < len(sorted) && sorted[i] <= hi
}

// dedupe sorts findings, drops repeats from overlapping windows, and
// drops a generic rule's finding where a specific rule found a secret
// holding it on the same line, as gitleaks does within one fragment.
// Repeats are the same rule and secret on the same line: gitleaks counts
// columns differently on a fragment's first line.
func dedupe(fs []finding) []finding {
	slices.SortFunc(fs, func(a, b finding) int {
		return cmp.Or(cmp.Compare(a.line, b.line), strings.Compare(a.rule, b.rule),
			strings.Compare(a.secret, b.secret), cmp.Compare(a.column, b.column))
	})
	fs = slices.CompactFunc(fs, func(a, b finding) bool {
		return a.line == b.line && a.rule == b.rule && a.secret == b.secret
	})
	out := fs[:0:0]
	for i := 0; i < len(fs); {
		j := i + 1
		for j < len(fs) && fs[j].line == fs[i].line {
			j++
		}
		sameLine := fs[i:j]
		for _, f := range sameLine {
			if !isGeneric(f.rule) || !slices.ContainsFunc(sameLine, func(o finding) bool {
				return !isGeneric(o.rule) && strings.Contains(o.secret, f.secret)
			}) {
				out = append(out, f)
			}
		}
		i = j
	}
	return out
}

func isGeneric(rule string) bool { return strings.Contains(strings.ToLower(rule), "generic") }
