package cli

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/bot-bottle/bot-bottle/internal/termfilter"
)

// IOStreams carries all of a command's input and output, so that tests
// capture it and no command writes to the process's streams directly.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	terminal bool // stdin and stdout are both terminals
	noColor  bool // NO_COLOR is set, or TERM=dumb
}

// SystemIO returns the process's standard streams. Those that are
// terminals are filtered (see terminalWriter).
func SystemIO() *IOStreams {
	return &IOStreams{
		In:       os.Stdin,
		Out:      terminalWriter(os.Stdout),
		ErrOut:   terminalWriter(os.Stderr),
		terminal: isTerminal(os.Stdin) && isTerminal(os.Stdout),
		noColor:  os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb",
	}
}

// terminalWriter returns f, through a filter of the control sequences
// that act on the host (clipboard, title, notifications, queries...) when
// f is a terminal.
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
	return termfilter.NewWriter(f)
}

// TestIO returns streams backed by buffers, which are not terminals.
func TestIO() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// IsTerminal reports whether stdin and stdout are both terminals, that is
// whether a person is there to answer a prompt and read the answer.
func (s *IOStreams) IsTerminal() bool { return s.terminal }

// ColorEnabled reports whether output may use colour: only on a terminal,
// and never when NO_COLOR (https://no-color.org) is set.
func (s *IOStreams) ColorEnabled() bool { return s.terminal && !s.noColor }

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
