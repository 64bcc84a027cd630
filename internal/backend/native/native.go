//go:build linux

// Package native runs bottles with no daemon: the agent in fresh Linux
// namespaces (rootless where unprivileged user namespaces are allowed),
// the sidecar as a supervised host process it reaches through a Unix
// socket. See internal/backend/native/inside for what runs in the bottle.
//
// It never gives a bottle a network route, a host file it was not handed,
// or the operator's environment (the sidecar and the keeper start with an
// empty one).
package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/proc"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/cgroup"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/landlock"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/seccomp"
)

// Name is the backend's name.
const Name = "native"

// InitRole is the hidden subcommand the bottle's init runs as.
const InitRole = "bottle-init"

// Config configures a Driver.
type Config struct {
	// Binary is the bot-bottle binary run as the sidecar and the init;
	// empty means the running executable.
	Binary string
	// StateRoot is $BOT_BOTTLE_HOME/state, where List, Stop, Attach,
	// Exec and Logs find the bottles of other processes (detached ones
	// included) and the folders of bottles whose owner died.
	StateRoot string
	Log       *slog.Logger
	// Cgroups, when set, stands in for the host's cgroups (tests).
	Cgroups func() (cgroup.Enforcer, error)
}

// Driver is the native backend. A bottle belongs to the process that
// started it and dies with it; a detached one belongs to a supervisor
// process of its own (see Supervise).
type Driver struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	bottles map[string]*bottle
}

var _ backend.Backend = (*Driver)(nil)

// New returns a Driver.
func New(cfg Config) *Driver {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{cfg: cfg, log: log, bottles: map[string]*bottle{}}
}

// Name implements backend.Backend.
func (d *Driver) Name() string { return Name }

func (d *Driver) binary() (string, error) {
	if d.cfg.Binary != "" {
		return d.cfg.Binary, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the bot-bottle binary: %w", err)
	}
	return exe, nil
}

// Probe implements backend.Backend: it starts a process in a new user
// namespace, the one thing the backend cannot do without.
func (d *Driver) Probe(ctx context.Context) (backend.Features, error) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	f := backend.Features{Runtime: "native, Linux " + unix.ByteSliceToString(uts.Release[:]), OwnsWorkspace: true}
	cmd := exec.CommandContext(ctx, "/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if err := cmd.Run(); err != nil {
		return f, fmt.Errorf("cannot create user namespaces here (%w); allow them (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone, or AppArmor's restrict_unprivileged_userns) or use --backend docker", err)
	}
	f.Isolation = "namespaces (user, mount, pid, net, ipc, uts, cgroup), loopback-only network"
	if abi := landlock.ABI(); abi > 0 {
		f.Isolation += fmt.Sprintf(", Landlock (ABI %d)", abi)
	}
	if seccomp.Available() == nil {
		f.Isolation += ", seccomp (no set-id files, device nodes or Unix sockets)"
	}
	if rootOperator() {
		f.Isolation += fmt.Sprintf(", agent as unprivileged host uid %d (idmapped workspace)", agentHostID)
	}
	limits, note := d.limitsFeatures()
	if limits != "" {
		f.Isolation += ", " + limits
	}
	if note != "" {
		f.Notes = append(f.Notes, note)
	}
	f.Notes = append(f.Notes, hardeningNotes()...)
	return f, nil
}

// hardeningNotes reports what a native bottle does not enforce here.
func hardeningNotes() []string {
	var notes []string
	if landlock.ABI() == 0 {
		notes = append(notes, "no Landlock in this kernel: writes outside the workspace are stopped by the read-only mounts alone")
	}
	if err := seccomp.Available(); err != nil {
		notes = append(notes, "no seccomp filter ("+err.Error()+"): the agent can leave set-id files in the workspace and reach any Unix socket it sees")
	}
	return notes
}

// bottle is one running native bottle.
type bottle struct {
	agent   string
	bottles []string
	created time.Time
	dir     string
	// owner is the spec's OwnerPID, or this process.
	owner   int
	init    *exec.Cmd
	sidecar *exec.Cmd
	// tty is the terminal's master side when the command has one;
	// otherwise stdout and stderr are the read ends of its pipes.
	tty            *os.File
	stdout, stderr *os.File
	// stdin is the write end of the command's stdin, without a terminal
	// in the foreground, until the first Attach takes it.
	stdin   *os.File
	done    chan struct{}
	status  int
	control string
	// cgroup holds the bottle's limits, when they are enforced.
	cgroup *cgroup.Group
}

func (d *Driver) get(slug string) (*bottle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.bottles[slug]
	if b == nil {
		return nil, fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
	}
	return b, nil
}

// takeStdin hands out the write end of b's command's stdin once.
func (d *Driver) takeStdin(b *bottle) *os.File {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := b.stdin
	b.stdin = nil
	return in
}

// Stop implements backend.Backend. A bottle of a process that died has
// nothing left but its folder, which Stop removes.
func (d *Driver) Stop(_ context.Context, slug string) error {
	d.mu.Lock()
	b := d.bottles[slug]
	delete(d.bottles, slug)
	d.mu.Unlock()
	if b == nil {
		if d.cfg.StateRoot == "" || strings.ContainsAny(slug, "/.") {
			return nil
		}
		return removeFolder(filepath.Join(d.cfg.StateRoot, slug, "native"))
	}
	var errs []error
	for _, c := range []*exec.Cmd{b.init, b.sidecar} {
		if c != nil && c.Process != nil {
			_ = c.Process.Signal(syscall.SIGKILL)
		}
	}
	if b.init != nil && b.init.Process != nil {
		<-b.done
	}
	if b.sidecar != nil && b.sidecar.Process != nil {
		_ = b.sidecar.Wait()
	}
	if b.cgroup != nil {
		// The init is gone, and with it every process of the bottle.
		if err := b.cgroup.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if in := d.takeStdin(b); in != nil {
		_ = in.Close()
	}
	for _, f := range []*os.File{b.tty, b.stdout, b.stderr} {
		if f != nil {
			_ = f.Close()
		}
	}
	if err := os.RemoveAll(b.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Logs implements backend.Backend. The sidecar's log is kept in the
// bottle's folder, for this process or another; so is a detached
// command's output, which a foreground one sends to its owner's terminal
// alone.
func (d *Driver) Logs(_ context.Context, slug string, w io.Writer) error {
	dir := ""
	if b, err := d.get(slug); err == nil {
		dir = b.dir
	} else if d.cfg.StateRoot != "" && !strings.ContainsAny(slug, "/.") {
		dir = filepath.Join(d.cfg.StateRoot, slug, "native")
	}
	data, err := os.ReadFile(filepath.Join(dir, "sidecar.log"))
	if dir == "" || errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(w, "== sidecar (%s)\n", slug)
	if _, err := w.Write(data); err != nil {
		return err
	}
	out, err := os.Open(filepath.Join(dir, "output.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer func() { _ = out.Close() }()
	fmt.Fprintf(w, "== agent (%s)\n", slug)
	_, err = io.Copy(w, out)
	return err
}

// ownerPID reads the pid of the process that owns the bottle in dir: the
// bot-bottle that started it, or its supervisor.
func ownerPID(dir string) int {
	data, err := os.ReadFile(filepath.Join(dir, "owner"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// stopOwner asks the bot-bottle that owns a bottle (the one that started
// it, or a detached bottle's supervisor) to end it, and waits a while for
// it to remove the bottle's folder: its processes die with it.
func stopOwner(dir string) {
	pid := ownerPID(dir)
	if pid <= 1 || pid == os.Getpid() || !proc.Alive(pid) {
		return
	}
	// The pid could have been reused by now: only signal a bot-bottle.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "bot-bottle") {
		return
	}
	_ = unix.Kill(pid, unix.SIGTERM)
	for range 100 {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) || !proc.Alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DialControl implements backend.Backend: the sidecar's control socket in
// the bottle's folder, which the bottle does not see, readable by its
// owner only.
func (d *Driver) DialControl(ctx context.Context, slug string) (net.Conn, error) {
	d.mu.Lock()
	b := d.bottles[slug]
	d.mu.Unlock()
	dir := ""
	switch {
	case b != nil:
		dir = b.dir
	case d.cfg.StateRoot != "":
		dir = filepath.Join(d.cfg.StateRoot, slug, "native")
	default:
		return nil, fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
	}
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "unix", filepath.Join(dir, ctlSock))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
		}
		return nil, fmt.Errorf("reaching the sidecar of %s: %w", slug, err)
	}
	return c, nil
}
