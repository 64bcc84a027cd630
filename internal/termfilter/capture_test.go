package termfilter

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sequences splits a capture into its escape sequences, with a simpler
// parser than the filter's (good enough for what real programs write).
func sequences(b []byte) [][]byte {
	var seqs [][]byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0x1b || i+1 >= len(b) {
			continue
		}
		j := i + 1
		switch b[j] {
		case '[':
			for j++; j < len(b) && (b[j] < 0x40 || b[j] > 0x7e); j++ {
			}
		case ']', 'P', '_', '^', 'X':
			for ; j < len(b) && b[j] != 0x07 && (b[j] != '\\' || b[j-1] != 0x1b); j++ {
			}
		default:
			for ; j < len(b) && b[j] < 0x30; j++ {
			}
		}
		if j < len(b) {
			seqs = append(seqs, b[i:j+1])
		}
		i = j
	}
	return seqs
}

// TestCaptures filters what vim, less and tmux wrote to a 100x30 pty
// (TERM=xterm-256color) while editing, paging and running a shell: all of
// it must pass but the sequences that act on the host, listed here.
func TestCaptures(t *testing.T) {
	titleStack := []string{"\x1b[22;0;0t", "\x1b[23;0;0t"}
	tests := []struct {
		file    string
		dropped []string
	}{
		{"vim.out", append([]string{
			"\x1b[22;1t", "\x1b[22;2t", "\x1b[23;1t", "\x1b[23;2t", // title stack
			"\x1b]10;?\a", "\x1b]11;?\a", // colour queries
			"\x1bPzz\x1b\\", // vim's probe for DCS replies
			"\x1b[?4m",      // XTQMODKEYS: a query of the modifyOtherKeys level
			"\x1b[0%m",      // another query vim sends
		}, titleStack...)},
		{"less.out", titleStack},
		{"tmux.out", append([]string{
			"\x1b[>q",     // XTVERSION
			"\x1b[?7727l", // mintty's escape-key mode, unknown here
		}, titleStack...)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			dropped := map[string]bool{}
			want := in
			for _, s := range sequences(in) {
				var f Filter
				if len(f.Flush(f.Append(nil, s))) == 0 {
					dropped[string(s)] = true
				}
			}
			for s := range dropped {
				want = bytes.ReplaceAll(want, []byte(s), nil)
			}
			wantDropped := map[string]bool{}
			for _, s := range tt.dropped {
				wantDropped[s] = true
			}
			if diff := cmp.Diff(wantDropped, dropped); diff != "" {
				t.Errorf("dropped sequences (-want +got):\n%s", diff)
			}
			var f Filter
			if diff := cmp.Diff(string(want), string(f.Flush(f.Append(nil, in)))); diff != "" {
				t.Errorf("filtered %s, less what it drops (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}
