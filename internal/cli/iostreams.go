package cli

import (
	"bytes"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/bot-bottle/bot-bottle/internal/termfilter"
)

// IOStreams carries all of a command's input and output, so that tests
// capture it and no command writes to the process's streams directly.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	terminal    bool // stdin and stdout are both terminals
	outTerminal bool // stdout is a terminal
	inTerminal  bool // stdin is a terminal
	noColor     bool // NO_COLOR is set, or TERM=dumb
}

// SystemIO returns the process's standard streams. Those that are
// terminals are filtered (see terminalWriter).
func SystemIO() *IOStreams {
	return &IOStreams{
		In:          os.Stdin,
		Out:         terminalWriter(os.Stdout),
		ErrOut:      terminalWriter(os.Stderr),
		terminal:    isTerminal(os.Stdin) && isTerminal(os.Stdout),
		outTerminal: isTerminal(os.Stdout),
		inTerminal:  isTerminal(os.Stdin),
		noColor:     os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
	}
}

// terminalWriter returns f, through a filter of the control sequences
// that act on the host (clipboard, title, notifications, queries...) when
// f is a terminal. The filter reads bytes as the terminal does: UTF-8,
// unless the locale names another character set (eightBitLocale).
//
// Security: every byte a bottle sends the operator (a foreground or
// attached session, a replay, exec, logs, and any error or record that
// quotes the agent) is written through IOStreams, so this is the one
// place where its output meets the operator's terminal. Output sent to a
// file or a pipe is left byte for byte: it is data, and no terminal reads
// it there.
func terminalWriter(f *os.File) io.Writer {
	if !isTerminal(f) {
		return f
	}
	return termfilter.NewWriter(f, termfilter.Config{EightBit: eightBitLocale(os.LookupEnv)})
}

// eightBitLocale reports whether the locale in force (LC_ALL, else
// LC_CTYPE, else LANG) is set and is not UTF-8: C, POSIX, ISO 8859-1 and
// the like, in which a terminal reads each byte 0x80-0x9F as a C1
// control. With none set, terminals today read UTF-8.
func eightBitLocale(lookup func(string) (string, bool)) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v, ok := lookup(k); ok && v != "" {
			v = strings.ToLower(v)
			return !strings.Contains(v, "utf-8") && !strings.Contains(v, "utf8")
		}
	}
	return false
}

// TestIO returns streams backed by buffers, which are not terminals.
func TestIO() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// IsTerminal reports whether stdin and stdout are both terminals, that is
// whether a person is there to answer a prompt and read the answer.
func (s *IOStreams) IsTerminal() bool { return s.terminal }

// InIsTerminal reports whether stdin is a terminal, whatever stdout is.
func (s *IOStreams) InIsTerminal() bool { return s.inTerminal }

// OutIsTerminal reports whether stdout is a terminal, whatever stdin is.
func (s *IOStreams) OutIsTerminal() bool { return s.outTerminal }

// ColorEnabled reports whether output may use colour: only on a terminal,
// and never when NO_COLOR (https://no-color.org) is set.
func (s *IOStreams) ColorEnabled() bool { return s.terminal && !s.noColor }

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
