package pushcheck

import (
	"strings"
	"time"

	"github.com/go-git/go-git/v5/utils/diff"
	"github.com/sergi/go-diff/diffmatchpatch"
)

// lineRange is the lines first to last, inclusive.
type lineRange struct{ first, last int }

// lineStarts returns where each line of text starts, then len(text). A
// last line without a newline counts; an empty text has no lines.
func lineStarts(text string) []int {
	starts := make([]int, 1, strings.Count(text, "\n")+2)
	for i := 0; i < len(text); {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		starts = append(starts, i)
	}
	if starts[len(starts)-1] != len(text) {
		starts = append(starts, len(text))
	}
	return starts
}

// diffTimeout bounds a line diff; past it, the diff gives up and reports
// the rest as replaced, which only makes more lines count as added.
const diffTimeout = 2 * time.Second

// addedLines returns the ranges of lines of to, numbered from 1, that a
// line diff from from reports as added. starts are to's lineStarts.
//
// Common leading and trailing lines are set aside first: most edits are
// local, and the line diff's setup costs as much as the whole text.
func addedLines(from, to string, starts []int) []lineRange {
	if from == to {
		return nil
	}
	n := len(starts) - 1
	if from == "" {
		return []lineRange{{1, n}}
	}
	// head counts the whole lines both start with, tail those they both
	// end with after them; off and end bound from's lines in between.
	off, head := 0, 0
	for head < n {
		l := to[starts[head]:starts[head+1]]
		if !strings.HasPrefix(from[off:], l) || l[len(l)-1] != '\n' && len(from)-off != len(l) {
			break
		}
		off += len(l)
		head++
	}
	end, tail := len(from), 0
	for tail < n-head {
		l := to[starts[n-tail-1]:starts[n-tail]]
		b := end - len(l)
		if b < off || from[b:end] != l || b > off && from[b-1] != '\n' {
			break
		}
		end = b
		tail++
	}
	oldMid, newMid := from[off:end], to[starts[head]:starts[n-tail]]
	if oldMid == "" {
		if newMid == "" {
			return nil
		}
		return []lineRange{{head + 1, n - tail}}
	}
	var out []lineRange
	line := head + 1
	for _, d := range diff.DoWithTimeout(oldMid, newMid, diffTimeout) {
		k := countLines(d.Text)
		switch d.Type {
		case diffmatchpatch.DiffEqual:
			line += k
		case diffmatchpatch.DiffInsert:
			if k == 0 {
				continue
			}
			if i := len(out) - 1; i >= 0 && out[i].last == line-1 {
				out[i].last = line + k - 1
			} else {
				out = append(out, lineRange{line, line + k - 1})
			}
			line += k
		default: // a deletion: no line of to
		}
	}
	return out
}

// countLines counts the lines in s, a run of whole lines from a line
// diff: only the last line of a file may lack its newline.
func countLines(s string) int {
	n := strings.Count(s, "\n")
	if s != "" && s[len(s)-1] != '\n' {
		n++
	}
	return n
}
