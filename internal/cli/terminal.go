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

// readPassword reads a line from a terminal without echo.
func readPassword(f *os.File) (string, error) {
	b, err := term.ReadPassword(int(f.Fd()))
	if err != nil {
		return "", fmt.Errorf("reading from the terminal: %w", err)
	}
	return string(b), nil
}
