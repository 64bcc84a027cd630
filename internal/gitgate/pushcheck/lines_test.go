package pushcheck

import (
	"slices"
	"testing"
)

func TestLineStarts(t *testing.T) {
	tests := []struct {
		text string
		want []int
	}{
		{"", []int{0}},
		{"a", []int{0, 1}},
		{"a\n", []int{0, 2}},
		{"a\nb", []int{0, 2, 3}},
		{"a\n\nb\n", []int{0, 2, 3, 5}},
	}
	for _, tt := range tests {
		if got := lineStarts(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("lineStarts(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestAddedLines(t *testing.T) {
	tests := []struct {
		name, from, to string
		want           []lineRange
	}{
		{"same", "a\nb\n", "a\nb\n", nil},
		{"new-file", "", "a\nb\nc\n", []lineRange{{1, 3}}},
		{"new-file-no-newline", "", "a\nb", []lineRange{{1, 2}}},
		{"deleted-all", "a\nb\n", "", nil},
		{"insert-middle", "a\nb\nc\n", "a\nb\nX\nY\nc\n", []lineRange{{3, 4}}},
		{"two-hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\nA\n2\n3\n4\n5\n6\n7\n8\nB\n9\n", []lineRange{{2, 2}, {10, 10}}},
		{"replace", "a\nb\nc\n", "a\nB\nc\n", []lineRange{{2, 2}}},
		{"delete-only", "a\nb\nc\n", "a\nc\n", nil},
		{"append-to-unterminated", "a\nb", "a\nb\nc\n", []lineRange{{2, 3}}},
		{"adjacent-merge", "a\nz\n", "x\ny\nz\n", []lineRange{{1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := addedLines(tt.from, tt.to, lineStarts(tt.to)); !slices.Equal(got, tt.want) {
				t.Errorf("addedLines(%q, %q) = %v, want %v", tt.from, tt.to, got, tt.want)
			}
		})
	}
}

// FuzzAddedLines checks the line numbers against the new text: the ranges
// lie in it, in order and apart, and every line they leave out is a line
// of the old text, in order, so that no new line escapes the scan.
func FuzzAddedLines(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nX\nb\nc\nY")
	f.Add("", "x\n")
	f.Add("x\ny", "y\nx")
	f.Add("a\n\n\nb\n", "\n\na\nb\n\n")
	f.Fuzz(func(t *testing.T, from, to string) {
		if len(from) > 4096 || len(to) > 4096 {
			return
		}
		got := addedLines(from, to, lineStarts(to))
		toLines := splitLines(to)
		added := make([]bool, len(toLines))
		prev := 0
		for _, r := range got {
			if r.first < 1 || r.last < r.first || r.last > len(toLines) || r.first <= prev+1 && prev > 0 {
				t.Fatalf("addedLines(%q, %q) = %v: range %v out of order or out of %d lines", from, to, got, r, len(toLines))
			}
			for l := r.first; l <= r.last; l++ {
				added[l-1] = true
			}
			prev = r.last
		}
		fromLines := splitLines(from)
		j := 0
		for i, l := range toLines {
			if added[i] {
				continue
			}
			for j < len(fromLines) && fromLines[j] != l {
				j++
			}
			if j == len(fromLines) {
				t.Fatalf("addedLines(%q, %q) = %v leaves out line %d %q, which the old text does not hold in order", from, to, got, i+1, l)
			}
			j++
		}
	})
}

// splitLines splits text into lines with their newlines.
func splitLines(text string) []string {
	starts := lineStarts(text)
	out := make([]string, 0, len(starts)-1)
	for i := 0; i+1 < len(starts); i++ {
		out = append(out, text[starts[i]:starts[i+1]])
	}
	return out
}
