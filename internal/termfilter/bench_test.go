package termfilter

import (
	"fmt"
	"strings"
	"testing"
)

// tuiCapture is what a full-screen program writes for frames of a
// 200x50 screen: synchronized output, cursor moves, colours, box
// drawing and some wide text on every row, as htop or Claude Code draw.
func tuiCapture(frames int) []byte {
	var b strings.Builder
	for f := range frames {
		b.WriteString("\x1b[?2026h\x1b[H")
		for row := 1; row <= 50; row++ {
			fmt.Fprintf(&b, "\x1b[%d;1H\x1b[38;2;%d;120;200m│\x1b[0m ", row, (row*7+f)%256)
			fmt.Fprintf(&b, "\x1b[1;32m%3d%%\x1b[0m ", (row*13+f)%100)
			b.WriteString("process name --with-flags ")
			b.WriteString("\x1b[2m日本語のテキスト\x1b[22m ")
			b.WriteString(strings.Repeat("─", 40))
			b.WriteString("\x1b[K")
		}
		b.WriteString("\x1b[?25h\x1b[?2026l")
	}
	return []byte(b.String())
}

func benchmarkFilter(b *testing.B, in []byte, chunk int) {
	var f Filter
	out := make([]byte, 0, len(in))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		out = out[:0]
		for i := 0; i < len(in); i += chunk {
			out = f.Append(out, in[i:min(i+chunk, len(in))])
		}
	}
}

// BenchmarkTUI filters a TUI-like capture in reads of the size a pty
// gives (4 KiB) and of an attach frame (32 KiB).
func BenchmarkTUI(b *testing.B) {
	in := tuiCapture(20)
	b.Run("4KiB", func(b *testing.B) { benchmarkFilter(b, in, 4<<10) })
	b.Run("32KiB", func(b *testing.B) { benchmarkFilter(b, in, 32<<10) })
}

// BenchmarkPlainText filters build or test output: ASCII lines.
func BenchmarkPlainText(b *testing.B) {
	in := []byte(strings.Repeat("ok  \tgithub.com/bot-bottle/bot-bottle/internal/termfilter\t0.209s\n", 2000))
	benchmarkFilter(b, in, 32<<10)
}
