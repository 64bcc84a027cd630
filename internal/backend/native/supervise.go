//go:build linux

package native

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/fds"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// SuperviseConfig configures Supervise.
type SuperviseConfig struct {
	// Dir is the bottle's native folder ($BOT_BOTTLE_HOME/state/SLUG/native).
	Dir string
	// Retire, when set, retires the bottle (revokes its deploy keys,
	// removes what must not outlive it from its state folder). It runs at
	// teardown, before attached clients learn the command's status, and
	// gets the bottle's Spec.RetireEnv: this process's own environment
	// is scrubbed.
	Retire func(ctx context.Context, env []backend.EnvVar) error
	Log    *slog.Logger
}

// drainTimeout bounds the wait for the last output of an ended command,
// and for attached clients to receive it.
const drainTimeout = 2 * time.Second

// detachedSize is a detached terminal's size until someone attaches.
var detachedSize = &pty.Winsize{Rows: 24, Cols: 80}

// Supervise runs a detached bottle: the owner its init and sidecar die
// with (parent-death signal), in place of the bot-bottle that started it.
// It reads the plan on fd 3 and answers on fd 4 "ok" once the command
// runs, or why the bottle could not start. It keeps the command's
// terminal or pipes, writes its output to output.log (which logs prints),
// and serves attach on attach.sock. When the command ends, or ctx does
// (stop sends SIGTERM), it removes the bottle and returns the command's
// status.
func Supervise(ctx context.Context, cfg SuperviseConfig) int {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "supervisor")
	// The bottle's processes must not inherit the plan and the answer
	// (the start waits for the end of it), nor anything else this
	// process was handed.
	closeOnExecErr := fds.CloseOnExec(fds.First)
	planFile, ready := os.NewFile(3, "plan"), os.NewFile(4, "ready")
	fail := func(err error) int {
		log.Error("starting the detached bottle", "err", err)
		_, _ = fmt.Fprintf(ready, "%v\n", err)
		_ = ready.Close()
		return 125
	}
	if closeOnExecErr != nil {
		_ = planFile.Close()
		return fail(closeOnExecErr)
	}
	data, err := io.ReadAll(planFile)
	_ = planFile.Close()
	if err != nil {
		return fail(fmt.Errorf("reading the plan: %w", err))
	}
	var p plan
	if err := json.Unmarshal(data, &p); err != nil {
		return fail(fmt.Errorf("reading the plan: %w", err))
	}
	if p.Version != planVersion {
		return fail(fmt.Errorf("plan version %d, want %d: use one bot-bottle binary for start and its supervisor", p.Version, planVersion))
	}
	// A session leader without a terminal gets no SIGHUP from one, but
	// a stray one must not end the bottle. Catching it (rather than
	// ignoring it) keeps the init and sidecar from inheriting SIG_IGN.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
		}
	}()
	d := New(Config{Binary: p.Binary, Log: cfg.Log})
	retire := func() {
		if cfg.Retire == nil {
			return
		}
		env := make([]backend.EnvVar, 0, len(p.RetireEnv))
		for _, v := range p.RetireEnv {
			env = append(env, backend.EnvVar{Name: v.Name, Value: secret.New(v.Value)})
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := cfg.Retire(rctx, env); err != nil {
			log.Warn("retiring the state folder", "err", err)
		}
	}
	status, err := d.supervise(ctx, cfg.Dir, &p, ready, retire, log)
	if err != nil {
		return fail(err)
	}
	return status
}

// supervise starts the bottle of p in dir, tells ready, and runs it to
// its end: then it removes the bottle, retires its state and, last, tells
// attached clients the status, so that an attach returns once nothing is
// left. The error is the start's; after it the bottle is gone too.
func (d *Driver) supervise(ctx context.Context, dir string, p *plan, ready *os.File, retire func(), log *slog.Logger) (int, error) {
	// From now on this process answers for the bottle: stop signals it,
	// list asks whether it lives.
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return 0, err
	}
	b := &bottle{created: time.Now(), dir: dir, done: make(chan struct{}), control: filepath.Join(dir, "control.sock")}
	d.mu.Lock()
	d.bottles[p.Slug] = b
	d.mu.Unlock()
	stop := func() { _ = d.Stop(context.WithoutCancel(ctx), p.Slug) }
	out, err := os.OpenFile(filepath.Join(dir, "output.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		stop()
		return 0, err
	}
	defer func() { _ = out.Close() }()
	sidecar, sidecarReady, err := startSidecar(p.Binary, p.SidecarDoc, dir)
	if err != nil {
		stop()
		return 0, err
	}
	b.sidecar = sidecar
	if b.cgroup, err = d.newGroup(p.Slug, p.Limits, dir, p.AllowUnenforcedLimits); err != nil {
		stop()
		return 0, err
	}
	goAhead, err := startInit(p.Binary, p.InitConfig, p.TTY, detachedSize, b, false)
	if err != nil {
		stop()
		return 0, err
	}
	h := newHub(p.TTY, b.tty, out, log)
	// Drain the output from the start: a full pipe or terminal would
	// stall the command while no one is attached.
	var pumps []chan struct{}
	pump := func(r io.Reader, kind byte) {
		done := make(chan struct{})
		pumps = append(pumps, done)
		go h.pump(r, kind, done)
	}
	if p.TTY {
		pump(b.tty, frameStdout)
	} else {
		pump(b.stdout, frameStdout)
		pump(b.stderr, frameStderr)
	}
	sock := filepath.Join(dir, "attach.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err == nil {
		err = os.Chmod(sock, 0o600)
	}
	if err != nil {
		_ = goAhead.Close()
		stop()
		return 0, fmt.Errorf("listening for attach: %w", err)
	}
	defer func() { _ = ln.Close() }()
	go h.serve(ln)
	if err := letGo(ctx, sidecarReady, goAhead); err != nil {
		stop()
		return 0, err
	}
	_, _ = ready.WriteString("ok\n")
	_ = ready.Close()
	log.Info("bottle running", "slug", p.Slug)

	select {
	case <-b.done:
	case <-ctx.Done():
		_ = b.init.Process.Signal(syscall.SIGKILL)
		<-b.done
	}
	// Everything in the bottle died with its init: the output ends.
	deadline := time.After(drainTimeout)
	for _, done := range pumps {
		select {
		case <-done:
		case <-deadline:
		}
	}
	_ = ln.Close()
	stop()
	retire()
	log.Info("bottle ended", "slug", p.Slug, "status", b.status)
	h.finish(b.status, drainTimeout)
	return b.status, nil
}
