//go:build linux

package inside

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bot-bottle/bot-bottle/internal/sandbox/fds"
)

// Init runs the bottle's PID 1 from the configuration file cfgPath and
// returns the exit status for the bottle: the command's, 128+n for a
// signal, 125 when the bottle could not be set up.
func Init(cfgPath string, stderr io.Writer) int {
	// The host waits on fd 3 for "ok", or for the reason the bottle could
	// not be set up; it answers on fd 4 once the sidecar serves.
	ready := os.NewFile(3, "ready")
	goAhead := os.NewFile(4, "go")
	// Those two are the init's alone, and nothing else it was handed
	// goes on to the bottle's processes.
	closeOnExecErr := fds.CloseOnExec(fds.First)
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bot-bottle init: %v\n", err)
		if ready != nil {
			fmt.Fprintf(ready, "%v\n", err)
			_ = ready.Close()
		}
		return 125
	}
	if closeOnExecErr != nil {
		return fail(closeOnExecErr)
	}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return fail(err)
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fail(fmt.Errorf("reading %s: %w", cfgPath, err))
	}
	// A non-root operator's agent maps to this process's user: without
	// this, it could open /proc/1/mem and run as the init, outside
	// Landlock and seccomp.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail(fmt.Errorf("making the init undumpable: %w", err))
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fail(fmt.Errorf("setting the host name: %w", err))
	}
	// The control socket is bound before the pivot, in the host state
	// folder, where only the operator reaches it.
	_ = os.Remove(cfg.Control)
	control, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Control, Net: "unix"})
	if err != nil {
		return fail(fmt.Errorf("listening for exec requests: %w", err))
	}
	if err := os.Chmod(cfg.Control, 0o600); err != nil {
		return fail(err)
	}
	if err := buildRoot(&cfg); err != nil {
		return fail(err)
	}
	if err := loopbackUp(); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", ProxyAddr)
	if err != nil {
		return fail(fmt.Errorf("listening for the agent's proxy: %w", err))
	}
	go relay(ln, SocketFile)
	kids := &children{wait: map[int]chan int{}}
	go serveControl(control, &cfg, kids)
	if cfg.Restore != "" {
		if err := restore(&cfg, kids); err != nil {
			return fail(err)
		}
	}
	if ready != nil {
		_, _ = ready.WriteString("ok\n")
		_ = ready.Close()
		ready = nil
	}
	if goAhead != nil {
		line, _ := bufio.NewReader(goAhead).ReadString('\n')
		_ = goAhead.Close()
		if line != "go\n" {
			return fail(errors.New("the host did not start the command"))
		}
	}
	return runCommand(&cfg, kids, fail)
}

// runCommand starts the command through the exec helper as the agent
// user, forwards signals to it, reaps every child, and returns the
// command's status once it ends.
func runCommand(cfg *Config, kids *children, fail func(error) int) int {
	cmd := helperCommand(cfg, cfg.Command, cfg.Env, cfg.WorkDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr.Setctty = isTerminal(os.Stdin)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGCHLD)
	main, err := startChild(cmd, kids)
	if err != nil {
		return fail(fmt.Errorf("starting %v: %w", cfg.Command, err))
	}
	pid := cmd.Process.Pid
	for {
		select {
		case status := <-main:
			// Returning ends PID 1, and the kernel kills the rest.
			return status
		case sig := <-sigs:
			if sig != unix.SIGCHLD {
				_ = unix.Kill(pid, sig.(unix.Signal))
				continue
			}
			reap(kids)
		}
	}
}

// reap collects every child that ended and hands the status of those the
// init started to their waiters.
func reap(kids *children) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if got <= 0 || err != nil {
			return
		}
		status := ws.ExitStatus()
		if ws.Signaled() {
			status = 128 + int(ws.Signal())
		}
		kids.done(got, status)
	}
}

// writable lists what the agent may write: Landlock enforces it.
func writable(cfg *Config) []string {
	w := []string{cfg.Home, "/tmp", "/dev/shm", "/dev/pts", RunDir}
	if cfg.WorkspaceMode != "none" && cfg.WorkspacePath != "" {
		w = append(w, cfg.WorkspacePath)
	}
	return w
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// loopbackUp brings up lo, the namespace's only interface.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }()
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo's flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

// relay hands each connection to the sidecar's Unix socket.
func relay(ln net.Listener, socket string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer func() { _ = c.Close() }()
			up, err := net.Dial("unix", socket)
			if err != nil {
				return
			}
			defer func() { _ = up.Close() }()
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(up, c)
				_ = up.(*net.UnixConn).CloseWrite()
				close(done)
			}()
			_, _ = io.Copy(c, up)
			_ = c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

// restore extracts the committed archive (home and /tmp of an earlier
// bottle) as the agent, so that it writes nothing the agent could not;
// the files provisioned for this start are left as they are.
func restore(cfg *Config, kids *children) error {
	// The archive is the operator's (0600): the init reads it for tar,
	// and it goes once read.
	archive, err := os.Open(RestoreFile)
	if err != nil {
		return fmt.Errorf("restoring the committed home: %w", err)
	}
	defer func() {
		_ = archive.Close()
		_ = unix.Unmount(RestoreFile, unix.MNT_DETACH)
		_ = os.Remove(RestoreFile)
	}()
	argv := []string{"tar", "-C", "/", "-xf", "-", "--no-same-owner"}
	for _, f := range cfg.Files {
		argv = append(argv, "--exclude="+strings.TrimPrefix(f.Path, "/"))
	}
	cmd := helperCommand(cfg, argv, cfg.Env, "/")
	cmd.Stdin = archive
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	cmd.Stdout, cmd.Stderr = w, w
	done, err := startChild(cmd, kids)
	_ = w.Close()
	if err != nil {
		return fmt.Errorf("restoring the committed home: %w", err)
	}
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
		out <- strings.TrimSpace(string(b))
	}()
	// The init reaps its children; SIGCHLD is not handled yet.
	for {
		select {
		case status := <-done:
			if status != 0 {
				return fmt.Errorf("restoring the committed home: tar exited %d: %s", status, <-out)
			}
			return nil
		case <-time.After(20 * time.Millisecond):
			reap(kids)
		}
	}
}
