package termfilter

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// filter runs in through a fresh Filter in one piece, flushed.
func filter(in string) string {
	var f Filter
	out := f.Append(nil, []byte(in))
	return string(f.Flush(out))
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Text.
		{"ascii", "hello, world\r\n\tok", "hello, world\r\n\tok"},
		{"utf8", "héllo ─│┌┐ 日本語 🐱 \u200b", "héllo ─│┌┐ 日本語 🐱 \u200b"},
		{"bell backspace", "a\ab\bc", "a\ab\bc"},
		{"invalid utf8", "a\xffb\xc3(c", "a\ufffdb\ufffd(c"},
		{"stray continuation byte above C1", "a\xa0b", "a\ufffdb"},
		{"nul and enq dropped", "a\x00b\x05c", "abc"},
		{"del dropped", "a\x7fb", "ab"},

		// What a screen needs.
		{"sgr colours", "\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m"},
		{"sgr truecolour", "\x1b[38;2;1;2;3;48:2::4:5:6;1;3mx", "\x1b[38;2;1;2;3;48:2::4:5:6;1;3mx"},
		{"cursor and erase", "\x1b[H\x1b[2J\x1b[10;20H\x1b[K\x1b[3A\x1b[?25l", "\x1b[H\x1b[2J\x1b[10;20H\x1b[K\x1b[3A\x1b[?25l"},
		{"alternate screen", "\x1b[?1049h\x1b[?1049l", "\x1b[?1049h\x1b[?1049l"},
		{"modes of a tui", "\x1b[?1000;1002;1006h\x1b[?2004h\x1b[?2026h\x1b[?1004h", "\x1b[?1000;1002;1006h\x1b[?2004h\x1b[?2026h\x1b[?1004h"},
		{"scroll region", "\x1b[5;20r\x1b[S\x1b[T", "\x1b[5;20r\x1b[S\x1b[T"},
		{"cursor shape", "\x1b[2 q", "\x1b[2 q"},
		{"keyboard protocols", "\x1b[>4;2m\x1b[>1u\x1b[<u\x1b[?u", "\x1b[>4;2m\x1b[>1u\x1b[<u\x1b[?u"},
		{"fixed-form queries", "\x1b[c\x1b[>c\x1b[6n\x1b[?2026$p", "\x1b[c\x1b[>c\x1b[6n\x1b[?2026$p"},
		{"esc save restore keypad", "\x1b7\x1b8\x1b=\x1b>\x1bM", "\x1b7\x1b8\x1b=\x1b>\x1bM"},
		{"line drawing charset", "\x1b(0qqq\x1b(B", "\x1b(0qqq\x1b(B"},
		{"reset", "\x1bc", "\x1bc"},

		// The host's: OSC.
		{"osc 52 clipboard bel", "a\x1b]52;c;SGVsbG8=\ab", "ab"},
		{"osc 52 clipboard st", "a\x1b]52;c;SGVsbG8=\x1b\\b", "ab"},
		{"osc 52 query", "\x1b]52;c;?\a", ""},
		{"osc 0 title", "\x1b]0;pwned\a", ""},
		{"osc 1 icon", "\x1b]1;pwned\x1b\\", ""},
		{"osc 2 title", "\x1b]2;pwned\a", ""},
		{"osc 7 cwd", "\x1b]7;file:///etc\a", ""},
		{"osc 8 hyperlink keeps its text", "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"osc 9 notification", "\x1b]9;you are done\a", ""},
		{"osc 777 notification", "\x1b]777;notify;t;b\a", ""},
		{"osc 4 palette set", "\x1b]4;1;rgb:ff/00/00\a", ""},
		{"osc 10 11 queries", "\x1b]10;?\a\x1b]11;?\x1b\\", ""},
		{"osc 1337 file", "\x1b]1337;File=name=eA==;inline=1:AAAA\a", ""},
		{"osc 133 prompt mark", "\x1b]133;A\a", ""},
		{"osc ended by can", "\x1b]0;x\x18text", "text"},
		{"osc ended by a new sequence", "\x1b]0;x\x1b[31mred", "\x1b[31mred"},
		{"utf8 inside osc", "\x1b]0;日本\a!", "!"},

		// The host's: DCS, APC, PM, SOS.
		{"dcs sixel", "\x1bPq#0;2;0;0;0#0~~\x1b\\x", "x"},
		{"dcs decrqss", "\x1bP$qm\x1b\\", ""},
		{"dcs xtgettcap", "\x1bP+q544e\x1b\\", ""},
		{"dcs tmux passthrough", "\x1bPtmux;\x1b\x1b]52;c;SGVsbG8=\a\x1b\\x", "x"},
		{"apc kitty graphics", "\x1b_Ga=T,f=100;AAAA\x1b\\x", "x"},
		{"pm", "\x1b^private\x1b\\x", "x"},
		{"sos", "\x1bXstring\x1b\\x", "x"},

		// The host's: CSI.
		{"csi t title report", "\x1b[21t", ""},
		{"csi t resize", "\x1b[8;100;300t", ""},
		{"csi t title stack", "\x1b[22;0t\x1b[23;0t", ""},
		{"xtversion", "\x1b[>q", ""},
		{"da3", "\x1b[=c", ""},
		{"media copy", "\x1b[5i\x1b[i", ""},
		{"vt52 mode", "\x1b[?2h", ""},
		{"column mode", "\x1b[?3h", ""},
		{"an allowed mode with a dropped one", "\x1b[?1049;2h", ""},
		{"keyboard lock", "\x1b[2h", ""},
		{"conformance level", "\x1b[62;1\"p", ""},
		{"palette stack", "\x1b[#P\x1b[#Q", ""},
		{"dsr other than status and position", "\x1b[15n", ""},
		{"da1 with parameters", "\x1b[1c", ""},
		{"two intermediates", "\x1b[1$'p", ""},
		{"parameter after intermediate", "\x1b[1 1q", ""},
		{"marker in the middle", "\x1b[1?25h", ""},

		// The host's: ESC.
		{"leave utf8", "\x1b%@x", "x"},
		{"8-bit controls in replies", "\x1b Gx", "x"},
		{"decid", "\x1bZ", ""},
		{"stray st", "\x1b\\x", "x"},

		// C1 controls, raw and in UTF-8.
		{"raw c1 osc", "a\x9d52;c;SGVsbG8=\ab", "ab"},
		{"utf8 c1 osc", "a\u009d0;pwned\u009cb", "ab"},
		{"raw c1 csi", "\x9b31mx", "\x1b[31mx"},
		{"utf8 c1 csi", "\u009b31mx", "\x1b[31mx"},
		{"raw c1 csi title report", "\x9b21t", ""},
		{"raw c1 dcs", "\x90q#0~\x9cx", "x"},
		{"utf8 c1 dcs", "\u0090q#0~\u009cx", "x"},
		{"raw c1 apc", "\x9fGa=T\x9cx", "x"},
		{"c1 index", "\u0084\u0085\u008d", "\x1bD\x1bE\x1bM"},
		{"c1 st in osc", "\x1b]0;x\x9cy", "y"},

		// Structure.
		{"control inside csi acts first", "\x1b[1\r;2H", "\r\x1b[1;2H"},
		{"can aborts csi", "\x1b[31\x18m", "m"},
		{"esc restarts", "\x1b[3\x1b[32m", "\x1b[32m"},
		{"text ends an escape", "\x1b日", "日"},
		{"overlong csi dropped", "\x1b[" + strings.Repeat("1;", 200) + "mx", "x"},
		{"overlong escape dropped", "\x1b" + strings.Repeat("(", 20) + "Bx", "x"},
		{"unterminated csi at the end", "x\x1b[31", "x"},
		{"unterminated string at the end", "x\x1b]52;c;AAAA", "x"},
		{"incomplete utf8 at the end", "x\xe6\x97", "x\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, filter(tt.in)); diff != "" {
				t.Errorf("filter(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestEightBit checks the filter for a terminal of an 8-bit locale, to
// which any byte 0x80-0x9F is a C1 control, even inside UTF-8.
func TestEightBit(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"latin-1 text", "caf\xe9 \xa0\xff", "caf\xe9 \xa0\xff"},
		{"osc 52 inside a utf8 character", "a\u051d52;c;SGVsbG8=\ab", "a\xd4b"},
		{"csi title report inside a utf8 character", "\u051b21t", "\xd4"},
		{"utf8 continuation bytes are controls", "日", "\xe6\xa5"},
		{"raw c1 csi", "\x9b31mx", "\x1b[31mx"},
		{"raw c1 st ends a string", "\x9d0;t\x9cx", "x"},
		{"ascii sequences as ever", "\x1b]0;t\a\x1b[31mr", "\x1b[31mr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Filter{EightBit: true}
			if diff := cmp.Diff(tt.want, string(f.Flush(f.Append(nil, []byte(tt.in))))); diff != "" {
				t.Errorf("filter(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestSplits feeds a mix of everything at every split point, and one byte
// at a time: the output must not depend on how the stream was cut.
func TestSplits(t *testing.T) {
	in := "a\x1b[31mé\x1b]52;c;SGVsbG8=\a日\x1bPtmux;\x1b\x1b]0;x\a\x1b\\\u009b1m\x9d0;t\x9c🐱\x1b[?1049h\x1b(0q\x1b[21t\r\n"
	want := filter(in)
	if want != "a\x1b[31mé日\x1b[1m🐱\x1b[?1049h\x1b(0q\r\n" {
		t.Fatalf("filter(%q) = %q", in, want)
	}
	for i := 0; i <= len(in); i++ {
		for j := i; j <= len(in); j++ {
			var f Filter
			out := f.Append(nil, []byte(in[:i]))
			out = f.Append(out, []byte(in[i:j]))
			out = f.Append(out, []byte(in[j:]))
			if got := string(f.Flush(out)); got != want {
				t.Fatalf("split at %d and %d: %q, want %q", i, j, got, want)
			}
		}
	}
	var f Filter
	var out []byte
	for i := range len(in) {
		out = f.Append(out, []byte{in[i]})
	}
	if got := string(f.Flush(out)); got != want {
		t.Errorf("a byte at a time: %q, want %q", got, want)
	}
}

// TestUnterminatedString checks that output resumes after a string that
// never ends, and that the filter keeps none of it.
func TestUnterminatedString(t *testing.T) {
	var f Filter
	out := f.Append(nil, []byte("\x1b]52;c;"))
	out = f.Append(out, bytes.Repeat([]byte("A"), maxString-100))
	if len(out) != 0 || len(f.seq) != 0 {
		t.Fatalf("passed %d bytes and kept %d of an unterminated string", len(out), len(f.seq))
	}
	out = f.Append(out, bytes.Repeat([]byte("A"), 200))
	if got := string(out); got == "" || strings.Trim(got, "A") != "" {
		t.Errorf("after %d bytes of an unterminated string: %q, want its tail as text", maxString, got)
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Config{})
	for _, s := range []string{"\x1b]52;c;SGVs", "bG8=\a\x1b[3", "1mred\x1b[0m\xe6", "\x97\xa5"} {
		n, err := w.Write([]byte(s))
		if err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", s, n, err, len(s))
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "\x1b[31mred\x1b[0m日"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	failing := NewWriter(errWriter{}, Config{})
	if _, err := failing.Write([]byte("x")); err == nil {
		t.Error("Write to a failing writer: no error")
	}
	if n, err := failing.Write([]byte("\x1b]0;")); n != 4 || err != nil {
		t.Errorf("Write of nothing that passes = %d, %v; want 4, nil", n, err)
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("broken") }

// forbidden are what must never leave the filter.
var forbidden = []string{"\x1b]", "\x1bP", "\x1bX", "\x1b^", "\x1b_", "\x1b%", "\x1b "}

// checkOutput fails t when out has anything but text, format effectors
// and sequences of the allowlist.
func checkOutput(t *testing.T, eightBit bool, in, out []byte) {
	t.Helper()
	if eightBit {
		for _, b := range out {
			if b >= 0x80 && b < 0xa0 {
				t.Fatalf("8-bit filter(%q) = %q: has C1 control %#x", in, out, b)
			}
		}
	} else {
		if !utf8.Valid(out) {
			t.Fatalf("filter(%q) = %q: not UTF-8", in, out)
		}
		for _, r := range string(out) {
			if r >= 0x80 && r < 0xa0 {
				t.Fatalf("filter(%q) = %q: has C1 control %U", in, out, r)
			}
		}
	}
	for _, s := range forbidden {
		if bytes.Contains(out, []byte(s)) {
			t.Fatalf("filter(%q) = %q: has %q", in, out, s)
		}
	}
	for i := range len(out) {
		if out[i] != 0x1b || i+1 >= len(out) || out[i+1] != '[' {
			continue
		}
		j := i + 2
		for j < len(out) && out[j] < 0x40 {
			j++
		}
		if j == len(out) {
			t.Fatalf("filter(%q) = %q: an unfinished CSI", in, out)
		}
		if out[j] == 't' || out[j] == 'i' || out[j] == 'x' || out[j] == 'y' {
			t.Fatalf("filter(%q) = %q: has %q", in, out, out[i:j+1])
		}
	}
}

// isPlain reports whether in is text that must pass unchanged.
func isPlain(in []byte) bool {
	if !utf8.Valid(in) {
		return false
	}
	for _, r := range string(in) {
		if r < 0x80 && !plain[r] || r >= 0x80 && r < 0xa0 {
			return false
		}
	}
	return true
}

// isPlain8 reports whether in is text that must pass unchanged to an
// 8-bit terminal.
func isPlain8(in []byte) bool {
	for _, b := range in {
		if b < 0x80 && !plain[b] || b >= 0x80 && b < 0xa0 {
			return false
		}
	}
	return true
}

func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"plain text\r\n", "\x1b]52;c;SGVsbG8=\a\x1b]0;pwned\a\x1b[31mred\x1b[0m",
		"\x1bPtmux;\x1b\x1b]52;c;?\a\x1b\\", "\x9b21t\u009d0;x\u009c", "\x1b[?1049;1006h\x1b[38:2::1:2:3m",
		"\x1b(0q\x1b#8\x1b%G", "\xe6\x97\xa5\xff\xc2\x9b", "\x1b[1\r;2H\x1b]8;;x\x1b\\y",
	} {
		f.Add([]byte(s), uint16(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		for _, eightBit := range []bool{false, true} {
			fl := Filter{EightBit: eightBit}
			out := fl.Flush(fl.Append(nil, in))
			checkOutput(t, eightBit, in, out)
			// Cut anywhere, the same.
			c := int(cut) % (len(in) + 1)
			fc := Filter{EightBit: eightBit}
			split := fc.Flush(fc.Append(fc.Append(nil, in[:c]), in[c:]))
			if !bytes.Equal(split, out) {
				t.Fatalf("filter(%q) cut at %d = %q, whole = %q (8-bit %v)", in, c, split, out, eightBit)
			}
			// Idempotent: what passed passes again, unchanged.
			again := Filter{EightBit: eightBit}
			if twice := again.Flush(again.Append(nil, out)); !bytes.Equal(twice, out) {
				t.Fatalf("filter(filter(%q)) = %q, want %q (8-bit %v)", in, twice, out, eightBit)
			}
			if (eightBit && isPlain8(in) || !eightBit && isPlain(in)) && !bytes.Equal(out, in) {
				t.Fatalf("filter(%q) = %q, want plain text unchanged", in, out)
			}
		}
	})
}
