//go:build linux

package cli_test

import (
	"slices"
	"strings"
	"syscall"
	"testing"
)

// hostileOutput is what an agent prints to act on the operator's terminal
// rather than its screen: the clipboard (OSC 52), the window title (OSC
// 0, and in an 8-bit C1 form), a tmux passthrough that smuggles another
// OSC 52, and a title report whose reply would be typed back. Then a
// colour, which must reach the operator, and a marker. It goes to stdout
// and to stderr. POSIX sh and printf, octal escapes.
const hostileOutput = `p() { printf '\033]52;c;SGVsbG8=\007\033]0;pwned-title\007\302\2352;pwned-c1\302\234\033Ptmux;\033\033]52;c;SGVsbG8=\007\033\\\033[21t\033[31mred\033[0m\n'; }; p; p >&2; echo end-of-$((6*7))`

// hostileBytes are what must never reach the operator's terminal.
var hostileBytes = []string{"\x1b]", "\x1bP", "\x1b[21t", "\u009d", "\u009c"}

// requireFiltered fails t when what term showed has any of hostileBytes,
// or lacks the colour.
func requireFiltered(t *testing.T, term *terminal) {
	t.Helper()
	got := term.out.String()
	var found []string
	for _, s := range hostileBytes {
		if strings.Contains(got, s) {
			found = append(found, s)
		}
	}
	if len(found) > 0 {
		t.Errorf("the operator's terminal got %q:\n%q", found, got)
	}
	if !strings.Contains(got, "\x1b[31mred\x1b[0m") {
		t.Errorf("the colour did not reach the operator's terminal:\n%q", got)
	}
}

// hostileOutput8 hides OSC 52 and a title report inside UTF-8 characters
// (U+051D and U+051B end in the bytes 0x9D and 0x9B), which a terminal of
// an 8-bit locale reads as C1 controls.
const hostileOutput8 = `printf '\324\23552;c;SGVsbG8=\007\324\23321t\033[31mred\033[0m\n'; echo end-of-$((6*7))`

// terminalEscapes runs the hostile output through every path by which a
// bottle's output reaches the operator's terminal.
func terminalEscapes(t *testing.T, w *world) {
	// The filter follows the locale; the tests choose theirs.
	inUTF8, in8Bit := *w, *w
	inUTF8.env = append(slices.Clone(w.env), "LC_ALL=C.UTF-8")
	in8Bit.env = append(slices.Clone(w.env), "LC_ALL=C")
	t.Run("a foreground command prints C1 clipboard and title sequences to an 8-bit terminal", func(t *testing.T) {
		term := in8Bit.in(t).onTerminal("start", "example", "--yes", "--", "sh", "-c", hostileOutput8)
		term.expect("end-of-42")
		if code := term.exit(); code != 0 {
			t.Fatalf("start: exit %d\n%q", code, term.out.String())
		}
		got := term.out.String()
		for _, s := range []string{"\x9d52", "\x9b21t", "\x1b]"} {
			if strings.Contains(got, s) {
				t.Errorf("the operator's terminal got %q:\n%q", s, got)
			}
		}
		if !strings.Contains(got, "\x1b[31mred\x1b[0m") {
			t.Errorf("the colour did not reach the operator's terminal:\n%q", got)
		}
	})
	t.Run("a foreground command prints clipboard and title sequences", func(t *testing.T) {
		w := inUTF8.in(t)
		term := w.onTerminal("start", "example", "--yes", "--", "sh", "-c", hostileOutput)
		term.expect("end-of-42")
		if code := term.exit(); code != 0 {
			t.Fatalf("start: exit %d\n%q", code, term.out.String())
		}
		requireFiltered(t, term)
	})
	t.Run("the agent's shell in a foreground start prints clipboard and title sequences", func(t *testing.T) {
		w := inUTF8.in(t)
		term := w.onTerminal("start", "example", "--yes")
		term.send("\n")
		term.expect("$ ")
		term.send(hostileOutput + "; exit 5\n")
		term.expect("end-of-42")
		if code := term.exit(); code != 5 {
			t.Fatalf("start: exit %d\n%q", code, term.out.String())
		}
		requireFiltered(t, term)
	})
	t.Run("a command leaves mouse reports, held output and keyboard modes on after it ends", func(t *testing.T) {
		w := inUTF8.in(t)
		slug := w.startDetached("--", "sleep", "600")
		defer func() { _, _ = w.run("stop", slug) }()
		for _, args := range [][]string{
			{"start", "example", "--yes", "--"},
			{"exec", slug, "--"},
		} {
			term := w.onTerminal(append(args, "sh", "-c", `printf '\033[?1000h\033[?2026h\033[=1u\033[>4;2m'; echo end-of-$((6*7))`)...)
			term.expect("end-of-42")
			if code := term.exit(); code != 0 {
				t.Fatalf("%s: exit %d\n%q", args[0], code, term.out.String())
			}
			got := term.out.String()
			after := got[strings.LastIndex(got, "end-of-42"):]
			for _, s := range []string{"\x1b[?1000l", "\x1b[?2026l", "\x1b[=0;1u", "\x1b[>4m"} {
				if !strings.Contains(after, s) {
					t.Errorf("%s: the terminal was left without %q:\n%q", args[0], s, got)
				}
			}
		}
	})
	t.Run("an attach replays a detached command's clipboard and title sequences", func(t *testing.T) {
		w := inUTF8.in(t)
		slug := w.startDetached("--", "sh", "-c", hostileOutput+"; exec sleep 600")
		defer func() { _, _ = w.run("stop", slug) }()
		term := w.onTerminal("attach", slug)
		term.expect("end-of-42")
		_ = term.cmd.Process.Signal(syscall.SIGTERM)
		_ = term.exit()
		requireFiltered(t, term)

		logs := w.onTerminal("logs", slug)
		logs.expect("end-of-42")
		if code := logs.exit(); code != 0 {
			t.Fatalf("logs: exit %d\n%q", code, logs.out.String())
		}
		requireFiltered(t, logs)
	})
	t.Run("the agent's shell prints clipboard and title sequences to an attached terminal", func(t *testing.T) {
		w := inUTF8.in(t)
		slug := w.startDetached()
		defer func() { _, _ = w.run("stop", slug) }()
		term := w.onTerminal("attach", slug)
		term.send("\n")
		term.expect("$ ")
		term.send(hostileOutput + "; exit 4\n")
		term.expect("end-of-42")
		if code := term.exit(); code != 4 {
			t.Fatalf("attach: exit %d\n%q", code, term.out.String())
		}
		requireFiltered(t, term)
	})
	t.Run("exec on a terminal prints clipboard and title sequences", func(t *testing.T) {
		w := inUTF8.in(t)
		slug := w.startDetached("--", "sleep", "600")
		defer func() { _, _ = w.run("stop", slug) }()
		term := w.onTerminal("exec", slug, "--", "sh", "-c", hostileOutput)
		term.expect("end-of-42")
		if code := term.exit(); code != 0 {
			t.Fatalf("exec: exit %d\n%q", code, term.out.String())
		}
		requireFiltered(t, term)
	})
}

// in returns a copy of w for the (sub)test t.
func (w world) in(t *testing.T) *world {
	w.t = t
	return &w
}

func TestNativeTerminalEscapes(t *testing.T) { terminalEscapes(t, newNativeWorld(t)) }

func TestDockerTerminalEscapes(t *testing.T) { terminalEscapes(t, newWorld(t)) }
