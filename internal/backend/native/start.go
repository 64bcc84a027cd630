//go:build linux

package native

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/native/inside"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/fds"
	"github.com/bot-bottle/bot-bottle/internal/sidecar/contract"
)

// hidden are paths hidden in every bottle besides the fresh folders
// (every home, /root, /run, /tmp): secret locations that may live
// elsewhere.
// The host's own secrets: a root operator's agent has an unprivileged
// host uid (see bottleIdentity), so file modes keep it out of these too,
// but a non-root operator's agent has the operator's.
var hidden = []string{"/etc/ssh", "/etc/ssl/private", "/etc/shadow", "/etc/gshadow", "/var/lib/docker", "/etc/docker", "/etc/kubernetes"}

// Start implements backend.Backend. A foreground bottle belongs to this
// process: its init and sidecar die with it. A detached one belongs to a
// supervisor process of its own (see Supervise), which outlives this one.
func (d *Driver) Start(ctx context.Context, spec *backend.Spec, _ io.Writer) (err error) {
	bin, err := d.binary()
	if err != nil {
		return err
	}
	// Go passes every descriptor not close-on-exec to what it starts: the
	// sidecar, the supervisor and the init get none this process was
	// handed (the bot-bottle binary does this first thing; a program
	// using this package may not have).
	if err := fds.CloseOnExec(fds.First); err != nil {
		return err
	}
	dir, err := d.claim(spec)
	if err != nil {
		return err
	}
	if spec.Detached {
		defer func() {
			if err != nil {
				_ = removeFolder(dir)
			}
		}()
		return d.startDetached(ctx, bin, spec, dir)
	}
	owner := spec.OwnerPID
	if owner <= 0 {
		owner = os.Getpid()
	}
	b := &bottle{agent: spec.Agent, bottles: spec.Bottles, created: time.Now(), dir: dir, owner: owner, done: make(chan struct{}), control: filepath.Join(dir, "control.sock")}
	d.mu.Lock()
	if _, ok := d.bottles[spec.Slug]; ok {
		d.mu.Unlock()
		_ = os.RemoveAll(dir)
		return fmt.Errorf("bottle %s is already running; stop it first", spec.Slug)
	}
	d.bottles[spec.Slug] = b
	d.mu.Unlock()
	defer func() {
		if err != nil {
			_ = d.Stop(context.WithoutCancel(ctx), spec.Slug)
		}
	}()
	// The sidecar and the init start side by side; the init holds the
	// command back until the sidecar serves.
	t0 := time.Now()
	if err := os.Mkdir(filepath.Join(dir, "sidecar"), 0o700); err != nil {
		return err
	}
	sock := filepath.Join(dir, "sidecar", "egress.sock")
	doc, err := sidecarDocument(spec, sock, dir)
	if err != nil {
		return err
	}
	sidecar, sidecarReady, err := startSidecar(bin, doc, dir)
	if err != nil {
		return err
	}
	b.sidecar = sidecar
	cfgPath, err := writeInitConfig(spec, dir, filepath.Dir(sock), b.control)
	if err != nil {
		return err
	}
	if b.cgroup, err = d.newGroup(spec.Slug, limitsOf(spec.Resources), dir, spec.AllowUnenforcedLimits); err != nil {
		return err
	}
	goAhead, err := startInit(bin, cfgPath, spec.TTY, nil, b, true)
	if err != nil {
		return err
	}
	if err := letGo(ctx, sidecarReady, goAhead); err != nil {
		return err
	}
	d.log.Debug("started", "slug", spec.Slug, "ms", time.Since(t0).Milliseconds())
	return nil
}

// letGo waits for the sidecar to serve, then tells the init to start the
// command. It closes goAhead.
func letGo(ctx context.Context, sidecarReady <-chan error, goAhead *os.File) error {
	defer func() { _ = goAhead.Close() }()
	select {
	case err := <-sidecarReady:
		if err != nil {
			return err
		}
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the sidecar did not become ready")
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, err := goAhead.WriteString("go\n"); err != nil {
		return fmt.Errorf("starting the command: %w", err)
	}
	return nil
}

// sidecarDocument is the sidecar's launch document: the egress proxy on
// sock, the control channel on the state folder's ctlSock, which the
// bottle does not see.
func sidecarDocument(spec *backend.Spec, sock, dir string) ([]byte, error) {
	doc, err := contract.FromSpec(spec, contract.Runtime{
		Listen: "unix:" + sock, Audit: spec.AuditFile, Control: "unix:" + filepath.Join(dir, ctlSock),
	})
	if err != nil {
		return nil, err
	}
	return doc.Marshal()
}

// ctlSock is the sidecar's control socket in the bottle's native folder.
const ctlSock = "sidecar.ctl"

// startSidecar starts the sidecar as a host process with an empty
// environment, hands it its launch document on standard input and logs
// its standard error. The channel reports once it serves, or why not.
func startSidecar(bin string, doc []byte, dir string) (*exec.Cmd, <-chan error, error) {
	cmd := exec.Command(bin, "sidecar")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if lvl, ok := os.LookupEnv("BOT_BOTTLE_LOG_LEVEL"); ok {
		cmd.Env = append(cmd.Env, "BOT_BOTTLE_LOG_LEVEL="+lvl)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	logPath := filepath.Join(dir, "sidecar.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = logf.Close() }()
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting the sidecar: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		_, err := stdin.Write(doc)
		_ = stdin.Close()
		if _, rerr := contract.WaitReady(stdout, func() string { return lastLines(logPath, 10) }); rerr != nil {
			err = rerr
		}
		ready <- err
		// Nothing more is said on stdout; keep the pipe drained.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return cmd, ready, nil
}

// writeInitConfig writes the init's configuration into the state folder.
func writeInitConfig(spec *backend.Spec, dir, sockDir, control string) (string, error) {
	ca, err := os.ReadFile(filepath.Join(spec.CADir, "ca.crt"))
	if err != nil {
		return "", fmt.Errorf("reading the bottle CA: %w", err)
	}
	// The bot-bottle home holds every bottle's state: other bottles'
	// control and egress sockets, CA keys. It is usually under a home
	// folder, which is absent anyway; wherever it is, it is hidden.
	hide := append(append(append([]string(nil), hidden...), filepath.Dir(filepath.Dir(spec.StateDir))), spec.Hide...)
	command, path, err := hostCommand(spec.Command, os.Getenv("PATH"), hide)
	if err != nil {
		return "", err
	}
	env := contract.AgentEnv(spec, contract.Agent{
		Proxy: "http://" + inside.ProxyAddr, CAFile: inside.CAFile,
		Path: path, Term: os.Getenv("TERM"),
	})
	if c := spec.Image.Committed; c != "" {
		if dir, name := filepath.Split(filepath.Clean(c)); filepath.Clean(dir) != filepath.Clean(spec.StateDir) || !strings.HasPrefix(name, commitPrefix) {
			return "", fmt.Errorf("the committed archive %s is not in the bottle's state folder", c)
		}
		if _, err := os.Stat(c); err != nil {
			return "", fmt.Errorf("the archive this bottle was committed as is gone (%w); start the agent anew with bot-bottle start", err)
		}
	}
	ids := bottleIdentity()
	cfg := inside.Config{
		Root:              filepath.Join(dir, "root"),
		Hostname:          spec.Slug,
		WorkspaceMode:     string(spec.Workspace.Mode),
		WorkspaceHost:     spec.Workspace.HostPath,
		WorkspacePath:     spec.Workspace.Path,
		WorkspacePinned:   spec.Workspace.Pinned,
		WorkspaceReadOnly: spec.Workspace.ReadOnly,
		Home:              spec.User.Home,
		HomeHost:          spec.HomeDir,
		Restore:           spec.Image.Committed,
		UID:               spec.User.UID,
		GID:               spec.User.GID,
		OuterUID:          ids.outerUID,
		OuterGID:          ids.outerGID,
		// A root operator's agent is not root: it reaches the workspace
		// through an idmapped mount (see workspaceTree).
		WorkspaceTree: rootOperator() && spec.Workspace.Mode == backend.WorkspaceMount && spec.Workspace.Path != "",
		CA:            ca,
		SidecarDir:    sockDir,
		Control:       control,
		Hide:          hide,
		Env:           env,
		Command:       command,
		WorkDir:       spec.Workspace.Path,
	}
	if cfg.WorkspaceMode == "none" || cfg.WorkDir == "" {
		cfg.WorkDir = spec.User.Home
	}
	for _, f := range spec.Files {
		cfg.Files = append(cfg.Files, inside.File{Path: f.Path, Mode: uint32(f.Mode & 0o7777), Data: f.Data, Root: f.Root})
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "init.json")
	return p, os.WriteFile(p, data, 0o600)
}

// startInit starts the bottle's init in fresh namespaces, as root of its
// user namespace, which maps to the operator (and, for a root operator,
// the agent to an unprivileged host id: see bottleIdentity).
// size, when set, is the terminal's first size (a detached bottle has
// no one's terminal to take it from). feed gives a command without a
// terminal a stdin pipe for Attach (b.stdin); otherwise its stdin is
// /dev/null.
func startInit(bin, cfgPath string, tty bool, size *pty.Winsize, b *bottle, feed bool) (*os.File, error) {
	cmd := exec.Command(bin, InitRole, cfgPath) //nolint:gosec // G204: our own binary
	cmd.Env = []string{}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer func() { _ = readyR.Close() }()
	goR, goW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer func() { _ = goR.Close() }()
	cmd.ExtraFiles = []*os.File{readyW, goR}
	tree, err := workspaceTree(bin, cfgPath)
	if err != nil {
		return nil, err
	}
	if tree != nil {
		defer func() { _ = tree.Close() }()
		cmd.ExtraFiles = append(cmd.ExtraFiles, tree) // inside.WorkspaceTreeFD
	}
	ids := bottleIdentity()
	attrs := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWCGROUP,
		UidMappings: ids.uids,
		GidMappings: ids.gids,
		Credential:  ids.credential,
		// A root operator may drop its supplementary groups (group 0
		// reads root's group-readable files) in the namespace.
		GidMappingsEnableSetgroups: ids.credential != nil,
		Pdeathsig:                  syscall.SIGKILL,
		Setsid:                     true,
	}
	if tty {
		master, err := pty.StartWithAttrs(cmd, size, attrs)
		if err != nil {
			return nil, fmt.Errorf("starting the bottle: %w", err)
		}
		b.tty = master
	} else {
		cmd.SysProcAttr = attrs
		outR, outW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = outW, errW
		var inR, inW *os.File
		if feed {
			if inR, inW, err = os.Pipe(); err != nil {
				return nil, err
			}
			cmd.Stdin = inR
		}
		err = cmd.Start()
		_ = outW.Close()
		_ = errW.Close()
		if inR != nil {
			_ = inR.Close()
		}
		if err != nil {
			if inW != nil {
				_ = inW.Close()
			}
			return nil, fmt.Errorf("starting the bottle: %w", err)
		}
		b.stdout, b.stderr, b.stdin = outR, errR, inW
	}
	_ = readyW.Close()
	b.init = cmd
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		_ = goW.Close()
		return nil, err
	}
	if b.cgroup != nil {
		// The init sets up and waits for the go-ahead: everything that
		// runs in the bottle is born in the group.
		if err := b.cgroup.Add(cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.status = 125
			close(b.done)
			_ = goW.Close()
			return nil, err
		}
	}
	// The init says "ok" once the command runs, or why it could not set
	// the bottle up; EOF without a word means it died.
	line, _ := bufio.NewReader(readyR).ReadString('\n')
	if line = strings.TrimSpace(line); line != "ok" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// Stop waits for done once the init has started.
		b.status = 125
		close(b.done)
		_ = goW.Close()
		if line == "" {
			line = "the bottle's init exited during set-up"
		}
		return nil, fmt.Errorf("setting up the bottle: %s", line)
	}
	go func() {
		err := cmd.Wait()
		b.status = exitStatus(cmd, err)
		close(b.done)
		// The sidecar serves no one once the bottle is gone.
		if b.sidecar != nil && b.sidecar.Process != nil {
			_ = b.sidecar.Process.Signal(syscall.SIGTERM)
		}
	}()
	return goW, nil
}

func exitStatus(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState == nil {
		return 125
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if err != nil && cmd.ProcessState.ExitCode() < 0 {
		return 125
	}
	return cmd.ProcessState.ExitCode()
}
