//go:build linux

package inside

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExecRequest asks the init to run another command in the bottle. It is
// sent as one JSON line on the control socket, with the command's stdin,
// stdout and stderr passed alongside as file descriptors.
type ExecRequest struct {
	Command []string `json:"command"`
	Env     []string `json:"env"`
	WorkDir string   `json:"workdir"`
	// TTY makes stdin the command's controlling terminal.
	TTY bool `json:"tty"`
}

// ExecResult is the init's answer once the command has ended.
type ExecResult struct {
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

// children maps the pids the init started to where their status goes;
// the reaper delivers it.
type children struct {
	mu   sync.Mutex
	wait map[int]chan int
}

func (c *children) add(pid int) chan int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan int, 1)
	c.wait[pid] = ch
	return ch
}

// done delivers a reaped child's status; it reports false for a pid the
// init did not start (an orphan it merely reaped).
func (c *children) done(pid, status int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.wait[pid]
	if ok {
		ch <- status
		delete(c.wait, pid)
	}
	return ok
}

// serveControl answers exec requests on ln, a Unix socket only the
// operator's user can reach (it lives in the bottle's host state folder).
func serveControl(ln *net.UnixListener, cfg *Config, kids *children) {
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		go handleExec(c, cfg, kids)
	}
}

func handleExec(c *net.UnixConn, cfg *Config, kids *children) {
	defer func() { _ = c.Close() }()
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(3*4))
	// Exactly stdin, stdout and stderr come with a request, close-on-exec
	// (net asks for MSG_CMSG_CLOEXEC): the command gets those three and
	// no other descriptor of the init's.
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	files, ferr := receiveFiles(oob[:oobn])
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	reply := func(r ExecResult) { _ = json.NewEncoder(c).Encode(r) }
	if err != nil {
		reply(ExecResult{Status: 125, Error: err.Error()})
		return
	}
	if ferr != nil || len(files) != 3 || flags&unix.MSG_CTRUNC != 0 {
		reply(ExecResult{Status: 125, Error: fmt.Sprintf("want exactly 3 descriptors, got %d (%v)", len(files), ferr)})
		return
	}
	var req ExecRequest
	if err := json.Unmarshal(buf[:n], &req); err != nil || len(req.Command) == 0 {
		reply(ExecResult{Status: 125, Error: fmt.Sprintf("bad request: %v", err)})
		return
	}
	env := append(append([]string(nil), cfg.Env...), req.Env...)
	workdir := req.WorkDir
	if workdir == "" {
		workdir = cfg.WorkDir
	}
	cmd := helperCommand(cfg, req.Command, env, workdir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	cmd.SysProcAttr.Setctty = req.TTY
	ch, err := startChild(cmd, kids)
	if err != nil {
		reply(ExecResult{Status: 126, Error: err.Error()})
		return
	}
	reply(ExecResult{Status: <-ch})
}

// startChild starts cmd and registers it with the reaper before it can
// be reaped.
func startChild(cmd *exec.Cmd, kids *children) (chan int, error) {
	kids.mu.Lock()
	err := cmd.Start()
	var ch chan int
	if err == nil {
		ch = make(chan int, 1)
		kids.wait[cmd.Process.Pid] = ch
	}
	kids.mu.Unlock()
	return ch, err
}

// helperCommand runs argv through the exec helper in a nested user
// namespace as the agent user, which maps to cfg.OuterUID.
func helperCommand(cfg *Config, argv, env []string, workdir string) *exec.Cmd {
	args := []string{ExecRole}
	for _, w := range writable(cfg) {
		args = append(args, "--writable", w)
	}
	args = append(args, "--")
	args = append(args, argv...)
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Args[0] = "bot-bottle"
	cmd.Env = env
	cmd.Dir = workdir
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: cfg.UID, HostID: cfg.OuterUID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: cfg.GID, HostID: cfg.OuterGID, Size: 1}},
		// The child starts with the init's ids, which the nested
		// namespace does not map: it must take the agent's, dropping
		// its capabilities there. Its supplementary groups are the
		// init's (none for a root operator, see startInit).
		Credential: &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.GID), NoSetGroups: true}, //nolint:gosec // G115: ids from the agent image, checked by the kernel's map
		Setsid:     true,
	}
	return cmd
}

func receiveFiles(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "passed"))
		}
	}
	return files, nil
}

// SendExec sends req with stdio on the control socket at path and waits
// for the command's status. The host side of Exec.
func SendExec(path string, req ExecRequest, stdin, stdout, stderr *os.File) (ExecResult, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return ExecResult{}, fmt.Errorf("reaching the bottle's init: %w", err)
	}
	defer func() { _ = c.Close() }()
	data, err := json.Marshal(req)
	if err != nil {
		return ExecResult{}, err
	}
	rights := unix.UnixRights(int(stdin.Fd()), int(stdout.Fd()), int(stderr.Fd()))
	if _, _, err := c.WriteMsgUnix(data, rights, nil); err != nil {
		return ExecResult{}, fmt.Errorf("sending the command: %w", err)
	}
	var res ExecResult
	if err := json.NewDecoder(c).Decode(&res); err != nil {
		return ExecResult{}, fmt.Errorf("the bottle's init did not answer: %w", err)
	}
	return res, nil
}
