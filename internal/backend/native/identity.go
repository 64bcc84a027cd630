//go:build linux

package native

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bot-bottle/bot-bottle/internal/backend/native/inside"
)

// UsernsRole is the hidden subcommand that holds a user namespace open
// while the backend builds an idmapped mount from it.
const UsernsRole = "bottle-userns"

// agentHostID is the uid and gid a root operator's agent has on the host:
// no user's, in the range systemd leaves unused (1879048192-2147483647),
// above the container and subordinate ranges. Host files it does not own
// are open to it only through their "other" bits, root daemons' sockets
// see an unprivileged peer, and its processes are no one's.
const agentHostID = 0x7fff0000

// outerAgentID is the agent's uid and gid in the bottle's outer user
// namespace when the operator is root; 0 there is the init, host root.
const outerAgentID = 1

// rootOperator reports whether bottles start as host root, whose agents
// must not keep its identity.
func rootOperator() bool { return os.Getuid() == 0 }

// identity is how the bottle's user namespaces map to the host.
type identity struct {
	uids, gids []syscall.SysProcIDMap
	// outerUID and outerGID are what the agent's ids map to in the
	// outer namespace.
	outerUID, outerGID int
	// credential, for a root operator, starts the init as root with no
	// supplementary groups, so that its children hold none either.
	credential *syscall.Credential
}

// bottleIdentity maps the init's root to the operator. A non-root
// operator has one id to give, so the agent shares it (it is no one
// else's). A root operator's agent gets agentHostID instead.
func bottleIdentity() identity {
	if !rootOperator() {
		return identity{
			uids: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			gids: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
	}
	return identity{
		uids:       []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: outerAgentID, HostID: agentHostID, Size: 1}},
		gids:       []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: outerAgentID, HostID: agentHostID, Size: 1}},
		outerUID:   outerAgentID,
		outerGID:   outerAgentID,
		credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}},
	}
}

// workspaceTree returns, for a root operator's mounted workspace, a
// detached copy of its mount tree idmapped so that the files of the
// workspace folder's owner (usually the operator) are the agent's: the
// agent reads and writes them as agentHostID, and what it creates is the
// owner's on disk. Files of other users show as the overflow id. The init attaches it in the
// bottle. It returns nil when the bottle needs none.
func workspaceTree(bin, cfgPath string) (*os.File, error) {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	var cfg inside.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("reading %s: %w", cfgPath, err)
	}
	if !cfg.WorkspaceTree {
		return nil, nil
	}
	// The folder's owner, not the operator: a root operator may start a
	// bottle in another user's tree (under sudo, say), whose files must
	// stay that user's.
	var st unix.Stat_t
	if err := unix.Stat(cfg.WorkspaceHost, &st); err != nil {
		return nil, fmt.Errorf("reading the workspace %s: %w", cfg.WorkspaceHost, err)
	}
	ns, err := holdUserns(bin, int(st.Uid), int(st.Gid))
	if err != nil {
		return nil, err
	}
	defer func() { _ = ns.Close() }()
	fd, err := unix.OpenTree(unix.AT_FDCWD, cfg.WorkspaceHost, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return nil, fmt.Errorf("cloning the workspace mount %s: %w", cfg.WorkspaceHost, err)
	}
	tree := os.NewFile(uintptr(fd), "workspace")
	attr := &unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV,
		Userns_fd: uint64(ns.Fd()),
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		_ = tree.Close()
		return nil, fmt.Errorf("idmapping the workspace %s: %w (its filesystem may not support idmapped mounts: use workspace mode copy, or start bottles as a non-root user)", cfg.WorkspaceHost, err)
	}
	return tree, nil
}

// holdUserns returns a user namespace that maps uid and gid to
// agentHostID, held by a process of bin that it ends before returning.
//
// The process is started traced, so that it stops at its exec before it
// runs a single instruction: the namespace, mapped before the exec, is
// then in place, and a start saves the Go runtime's start-up of a whole
// process. Where tracing is not allowed, or the trace is lost, the process
// runs the UsernsRole instead, which answers and waits.
func holdUserns(bin string, uid, gid int) (*os.File, error) {
	// The tracer is the thread that starts the process: it must live
	// until the process is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := startUserns(bin, uid, gid, true)
	if err != nil {
		ns, err = startUserns(bin, uid, gid, false)
	}
	return ns, err
}

func startUserns(bin string, uid, gid int, traced bool) (*os.File, error) {
	cmd := exec.Command(bin, UsernsRole)
	cmd.Env = []string{}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: agentHostID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: agentHostID, Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
		Ptrace:      traced,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("creating the workspace's user namespace: %w", err)
	}
	defer func() {
		_ = stdin.Close()
		if traced {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	}()
	if !traced {
		// It answers once it runs: its namespace is then in place.
		if _, err := io.ReadFull(stdout, make([]byte, 1)); err != nil {
			return nil, fmt.Errorf("creating the workspace's user namespace: %w", err)
		}
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	if err != nil {
		return nil, fmt.Errorf("opening the workspace's user namespace: %w", err)
	}
	return ns, nil
}

// HoldUserns is the hidden role holdUserns runs: it says it runs, then
// waits for its stdin to close.
func HoldUserns(stdin io.Reader, stdout io.Writer) int {
	if _, err := stdout.Write([]byte{'\n'}); err != nil {
		return 1
	}
	_, _ = io.Copy(io.Discard, stdin)
	return 0
}
