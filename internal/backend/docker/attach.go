package docker

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// Attach implements backend.Backend.
func (d *Driver) Attach(ctx context.Context, slug string, s backend.Stdio) (int, error) {
	cli, insp, err := d.inspectAgent(ctx, slug)
	if err != nil {
		return 0, err
	}
	id := agentName(slug)
	tty := insp.Config.Tty
	att, early := d.takeEarly(slug)
	if !tty && !early {
		// The command's stdin was fed, or closed, by the first attach.
		return d.follow(ctx, slug, s)
	}
	if !early {
		// Logs replays what the command wrote before we attached, so that a
		// non-interactive command's output is complete.
		res, err := cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{
			Stream: true, Stdin: s.Stdin != nil, Stdout: true, Stderr: true,
		})
		if err != nil {
			return 0, fmt.Errorf("attaching to bottle %s: %w", slug, err)
		}
		att = res.HijackedResponse
	}
	defer att.Close()
	wait := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	if tty && s.Resize != nil {
		go func() {
			for sz := range s.Resize {
				_, _ = cli.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: sz[0], Width: sz[1]})
			}
		}()
	}
	done := d.pump(att, s, tty, !tty)
	select {
	case res := <-wait.Result:
		// The daemon may keep the stream of a command that ended before
		// we attached open; the output has arrived by now or never will.
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			att.Close()
		}
		if res.Error != nil {
			return 0, fmt.Errorf("waiting for bottle %s: %s", slug, res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("waiting for bottle %s: %w", slug, err)
	}
}

// pump copies stdin to a hijacked connection and its output to stdout and
// stderr, demultiplexing unless tty; without a stdin, closeStdin closes
// the command's. The returned channel closes when the
// output ends.
func (d *Driver) pump(h client.HijackedResponse, s backend.Stdio, tty, closeStdin bool) <-chan struct{} {
	switch {
	case s.Stdin != nil:
		go func() {
			_, _ = io.Copy(h.Conn, s.Stdin)
			_ = h.CloseWrite()
		}()
	case closeStdin:
		_ = h.CloseWrite() // The command's stdin closes (StdinOnce).
	}
	stdout, stderr := s.Stdout, s.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if tty {
			_, _ = io.Copy(stdout, h.Reader)
			return
		}
		_, _ = demux(stdout, stderr, h.Reader)
	}()
	return done
}

// Exec implements backend.Backend.
func (d *Driver) Exec(ctx context.Context, slug string, e backend.Exec) (int, error) {
	cli, insp, err := d.inspectAgent(ctx, slug)
	if err != nil {
		return 0, err
	}
	id := agentName(slug)
	if !insp.State.Running {
		return 0, fmt.Errorf("bottle %s is not running; 'bot-bottle resume %s' starts it again", slug, slug)
	}
	user := insp.Config.User
	if e.Root {
		user = "0:0"
	}
	created, err := cli.ExecCreate(ctx, id, client.ExecCreateOptions{
		User:         user,
		TTY:          e.TTY,
		AttachStdin:  e.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Env:          e.Env,
		WorkingDir:   e.WorkDir,
		Cmd:          e.Cmd,
	})
	if err != nil {
		return 0, fmt.Errorf("exec in bottle %s: %w", slug, err)
	}
	att, err := cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: e.TTY})
	if err != nil {
		return 0, fmt.Errorf("exec in bottle %s: %w", slug, err)
	}
	defer att.Close()
	if e.TTY && e.Resize != nil {
		go func() {
			for sz := range e.Resize {
				_, _ = cli.ExecResize(ctx, created.ID, client.ExecResizeOptions{Height: sz[0], Width: sz[1]})
			}
		}()
	}
	done := d.pump(att.HijackedResponse, e.Stdio, e.TTY, false)
	select {
	case <-done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	res, err := cli.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return 0, fmt.Errorf("exec in bottle %s: %w", slug, err)
	}
	return res.ExitCode, nil
}

// follow streams a non-interactive command's output from its log, which
// holds everything from the start and ends when the command does, then
// returns its exit status. Unlike an attach stream, it cannot miss the end
// of a command that finished before we looked.
func (d *Driver) follow(ctx context.Context, slug string, s backend.Stdio) (int, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return 0, err
	}
	id := agentName(slug)
	logs, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return 0, fmt.Errorf("reading the output of bottle %s: %w", slug, err)
	}
	defer func() { _ = logs.Close() }()
	stdout, stderr := s.Stdout, s.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	copied := make(chan error, 1)
	go func() { _, err := demux(stdout, stderr, logs); copied <- err }()
	select {
	case err := <-copied:
		if err != nil {
			return 0, fmt.Errorf("reading the output of bottle %s: %w", slug, err)
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	wait := cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-wait.Result:
		if res.Error != nil {
			return 0, fmt.Errorf("waiting for bottle %s: %s", slug, res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("waiting for bottle %s: %w", slug, err)
	}
}

// inspectAgent returns the client and slug's agent container.
func (d *Driver) inspectAgent(ctx context.Context, slug string) (*client.Client, container.InspectResponse, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return nil, container.InspectResponse{}, err
	}
	insp, err := cli.ContainerInspect(ctx, agentName(slug), client.ContainerInspectOptions{})
	if isNotFound(err) {
		return nil, container.InspectResponse{}, fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
	} else if err != nil {
		return nil, container.InspectResponse{}, err
	}
	return cli, insp.Container, nil
}
