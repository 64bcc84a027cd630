package cli

import (
	"bytes"
	"io"
	"os"
)

// IOStreams carries all of a command's input and output, so that tests
// capture it and nothing writes to the process's streams directly.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	terminal bool
}

// SystemIO returns the process's standard streams.
func SystemIO() *IOStreams {
	return &IOStreams{
		In:       os.Stdin,
		Out:      os.Stdout,
		ErrOut:   os.Stderr,
		terminal: isTerminal(os.Stdin) && isTerminal(os.Stdout),
	}
}

// TestIO returns streams backed by buffers.
func TestIO() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// IsTerminal reports whether both stdin and stdout are terminals, i.e.
// whether the command may prompt.
func (s *IOStreams) IsTerminal() bool { return s.terminal }

// ColorEnabled reports whether output may use colour.
func (s *IOStreams) ColorEnabled() bool {
	_, noColor := os.LookupEnv("NO_COLOR")
	return s.terminal && !noColor
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
