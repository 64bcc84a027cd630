package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// rawTerminal puts the terminal in raw mode for an attached agent and
// reports its size now and on every SIGWINCH. restore undoes both.
func rawTerminal(ctx context.Context, ios *IOStreams) (restore func(), resize <-chan [2]uint, err error) {
	in, ok := ios.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return func() {}, nil, nil
	}
	fd := int(in.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("putting the terminal in raw mode: %w", err)
	}
	ch := make(chan [2]uint, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	ctx, cancel := context.WithCancel(ctx)
	send := func() {
		if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
			select {
			case ch <- [2]uint{uint(h), uint(w)}:
			default:
			}
		}
	}
	send()
	go func() {
		defer close(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
				send()
			}
		}
	}()
	return func() {
		cancel()
		signal.Stop(winch)
		_ = term.Restore(fd, old)
	}, ch, nil
}

// terminalReset turns off, after a bottle's session on the operator's
// terminal, the modes it may have set that outlive it: mouse and focus
// reports, bracketed paste, application keys, kitty and modifyOtherKeys
// keyboard reporting (with which Ctrl-C no longer interrupts), held
// output (synchronized updates), insert, origin and newline modes,
// reverse video, a hidden cursor, colours and a scroll region (inside a
// cursor save and restore, since resetting it homes the cursor). Every
// sequence in it is one termfilter passes.
const terminalReset = "\x1b[0m\x1b[4l\x1b[20l\x1b[?1l\x1b>\x1b[?5l\x1b[?6l\x1b[?7h" +
	"\x1b[?9l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1004l\x1b[?1005l\x1b[?1006l\x1b[?1015l\x1b[?1016l" +
	"\x1b[?2004l\x1b[?2026l\x1b[?25h\x1b[=0;1u\x1b[>4m\x1b7\x1b[r\x1b8"

// resetTerminal ends, on the operator's terminal, the modes a bottle's
// session may have left on (terminalReset).
func resetTerminal(ios *IOStreams) {
	if ios.OutIsTerminal() {
		fmt.Fprint(ios.Out, terminalReset)
	}
}

// readPassword reads a line from a terminal without echo.
func readPassword(f *os.File) (string, error) {
	b, err := term.ReadPassword(int(f.Fd()))
	if err != nil {
		return "", fmt.Errorf("reading from the terminal: %w", err)
	}
	return string(b), nil
}
