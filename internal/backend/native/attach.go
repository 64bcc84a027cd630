//go:build linux

package native

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/creack/pty"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/native/inside"
	"github.com/bot-bottle/bot-bottle/internal/proc"
)

// Attach implements backend.Backend. The main command of a foreground
// bottle is attached once, by the process that started it; a detached
// bottle's, by any process of the operator, through its supervisor.
func (d *Driver) Attach(ctx context.Context, slug string, s backend.Stdio) (int, error) {
	b, err := d.get(slug)
	if err != nil {
		return d.attachDetached(ctx, slug, s, err)
	}
	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	copied := make(chan struct{}, 2)
	switch {
	case b.tty != nil:
		if s.Stdin != nil {
			go func() { _, _ = io.Copy(b.tty, s.Stdin) }()
		}
		if s.Resize != nil {
			go func() {
				for sz := range s.Resize {
					_ = pty.Setsize(b.tty, &pty.Winsize{Rows: uint16(sz[0]), Cols: uint16(sz[1])}) //nolint:gosec // G115: terminal sizes fit
				}
			}()
		}
		go func() { _, _ = io.Copy(stdout, b.tty); copied <- struct{}{} }()
	default:
		if in := d.takeStdin(b); in != nil {
			go func() {
				if s.Stdin != nil {
					_, _ = io.Copy(in, s.Stdin)
				}
				_ = in.Close()
			}()
		}
		go func() { _, _ = io.Copy(stdout, b.stdout); copied <- struct{}{} }()
		go func() { _, _ = io.Copy(stderr, b.stderr); copied <- struct{}{} }()
	}
	select {
	case <-b.done:
		if b.tty == nil {
			<-copied
			<-copied
		} else {
			// The init and every process of the bottle are gone, so the
			// terminal's far side is closed: the master reads the rest
			// of the output, then fails.
			select {
			case <-copied:
			case <-time.After(ttyDrain):
			}
		}
		return b.status, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// attachDetached attaches to a bottle another process runs: through its
// supervisor when it is detached. notFound is the error for a slug this
// process does not run.
func (d *Driver) attachDetached(ctx context.Context, slug string, s backend.Stdio, notFound error) (int, error) {
	if d.cfg.StateRoot == "" || strings.ContainsAny(slug, "/.") {
		return 0, notFound
	}
	dir := filepath.Join(d.cfg.StateRoot, slug, "native")
	sock := filepath.Join(dir, "attach.sock")
	_, err := os.Stat(sock)
	pid := ownerPID(dir)
	switch {
	case err == nil && proc.Alive(pid):
		return attachSocket(ctx, sock, slug, s)
	case err == nil:
		return 0, fmt.Errorf("bottle %s is not running: its supervisor is gone; 'bot-bottle cleanup' removes what is left", slug)
	case proc.Alive(pid):
		return 0, fmt.Errorf("bottle %s runs in the foreground of bot-bottle process %d, which alone is attached to it; start a bottle with --detach to attach to it from elsewhere", slug, pid)
	}
	return 0, notFound
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Exec implements backend.Backend: the bottle's init runs the command,
// with stdio handed over as file descriptors.
func (d *Driver) Exec(ctx context.Context, slug string, e backend.Exec) (int, error) {
	control, err := d.controlSocket(slug)
	if err != nil {
		return 0, err
	}
	if e.Root {
		return 0, fmt.Errorf("native bottles have no root to run as")
	}
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	var stdin, stdout, stderr *os.File
	var waits []chan struct{}
	var ttyDone chan struct{}
	if e.TTY {
		master, tty, err := pty.Open()
		if err != nil {
			return 0, err
		}
		closers = append(closers, master, tty)
		stdin, stdout, stderr = tty, tty, tty
		if e.Stdin != nil {
			go func() { _, _ = io.Copy(master, e.Stdin) }()
		}
		ttyDone = make(chan struct{})
		go func() { _, _ = io.Copy(orDiscard(e.Stdout), master); close(ttyDone) }()
	} else {
		if stdin, err = os.Open(os.DevNull); err != nil {
			return 0, err
		}
		closers = append(closers, stdin)
		if e.Stdin != nil {
			r, w, err := os.Pipe()
			if err != nil {
				return 0, err
			}
			closers = append(closers, r)
			stdin = r
			go func() { _, _ = io.Copy(w, e.Stdin); _ = w.Close() }()
		}
		// One writer for both streams gets one pipe, so that their writes
		// keep their order and never race.
		outs := []struct {
			w    io.Writer
			file **os.File
		}{{e.Stdout, &stdout}, {e.Stderr, &stderr}}
		if e.Stdout == e.Stderr {
			outs = outs[:1]
		}
		for _, dst := range outs {
			r, w, err := os.Pipe()
			if err != nil {
				return 0, err
			}
			*dst.file = w
			closers = append(closers, w)
			done := make(chan struct{})
			waits = append(waits, done)
			go func() { _, _ = io.Copy(orDiscard(dst.w), r); _ = r.Close(); close(done) }()
		}
		if e.Stdout == e.Stderr {
			stderr = stdout
		}
	}
	type result struct {
		res inside.ExecResult
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := inside.SendExec(control, inside.ExecRequest{Command: e.Cmd, Env: e.Env, WorkDir: e.WorkDir, TTY: e.TTY}, stdin, stdout, stderr)
		got <- result{res, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			return 0, r.err
		}
		if e.TTY {
			// The rest of the output is still in the terminal: once our
			// copy of its far side closes, the master reads it to the end,
			// unless a process the command left behind holds it open.
			_ = stdout.Close()
			select {
			case <-ttyDone:
			case <-time.After(ttyDrain):
			}
		} else {
			// Our copies of the write ends must close for the readers to end.
			_ = stdout.Close()
			_ = stderr.Close()
			for _, w := range waits {
				<-w
			}
		}
		if r.res.Error != "" {
			return r.res.Status, fmt.Errorf("exec in bottle %s: %s", slug, r.res.Error)
		}
		return r.res.Status, nil
	case <-ctx.Done():
		// The request may still be sending the descriptors: they close
		// once it is done with them.
		pending := closers
		closers = nil
		go func() {
			<-got
			for _, c := range pending {
				_ = c.Close()
			}
		}()
		return 0, ctx.Err()
	}
}

// ttyDrain bounds how long Exec waits for the rest of a command's output
// on its terminal after the command ended.
const ttyDrain = 3 * time.Second

// controlSocket is where slug's init takes exec requests: known for the
// bottles of this process, found in the state folder for another's.
func (d *Driver) controlSocket(slug string) (string, error) {
	if b, err := d.get(slug); err == nil {
		return b.control, nil
	} else if d.cfg.StateRoot == "" || strings.ContainsAny(slug, "/.") {
		return "", err
	}
	p := filepath.Join(d.cfg.StateRoot, slug, "native", "control.sock")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
	}
	return p, nil
}
