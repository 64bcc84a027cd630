//go:build linux

// Package inside is what runs inside a native bottle: the init that builds
// the bottle's filesystem and network and stays PID 1, and the exec helper
// that locks a process down before it becomes the agent's command.
//
// The host starts the init in fresh user, mount, pid, net, ipc, uts and
// cgroup namespaces, as root of the new user namespace (mapped to the
// operator). The init
//
//  1. builds a new root on a tmpfs: each top-level folder of the host
//     root bound read-only, except /home, /root, /tmp, /run, /dev, /proc,
//     /mnt and /media, which are fresh (so every user's home, and with it
//     ~/.ssh, ~/.aws, ~/.bot-bottle and the rest, is absent), plus the
//     workspace, a scratch home, and the bottle CA;
//  2. pivots into it and detaches the host's tree;
//  3. brings up loopback, the only interface of its network namespace, and
//     relays 127.0.0.1:9099 to the sidecar's Unix socket, the bottle's only
//     way out;
//  4. starts the command through the exec helper in a nested user
//     namespace as the agent user (no capabilities), reaps every orphan, and
//     exits with the command's status. For a root operator the agent is
//     not host root: it maps to an unprivileged host id, and the mounted
//     workspace arrives from the host as an idmapped mount tree, so that
//     the operator's files there are the agent's.
//
// The exec helper sets no_new_privs, applies Landlock and seccomp where
// the kernel has them, and execs the command.
package inside

// Config is the init's configuration, written by the host as JSON.
type Config struct {
	// Root is an empty host folder the new root is built on.
	Root string `json:"root"`
	// Hostname is the bottle's host name (its slug).
	Hostname string `json:"hostname"`
	// Workspace: Mode is mount, copy or none; HostPath the tree on the
	// host; Path where it appears.
	WorkspaceMode string `json:"workspace_mode"`
	WorkspaceHost string `json:"workspace_host"`
	WorkspacePath string `json:"workspace_path"`
	// WorkspacePinned and WorkspaceReadOnly are relative paths of a
	// mounted workspace bound onto themselves, read-write and read-only
	// (backend.Workspace).
	WorkspacePinned   []string `json:"workspace_pinned,omitempty"`
	WorkspaceReadOnly []string `json:"workspace_readonly,omitempty"`
	// Home is the agent's home, a fresh folder, or with HomeHost (a host
	// folder) the home kept from the last start.
	Home     string `json:"home"`
	HomeHost string `json:"home_host,omitempty"`
	// Restore, when set, is a host file: the archive a commit made of an
	// earlier bottle's home and /tmp, extracted as the agent before the
	// command starts (RestoreFile inside).
	Restore string `json:"restore,omitempty"`
	// UID and GID are the agent's ids inside the bottle.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// OuterUID and OuterGID are what the agent's ids map to in the
	// init's user namespace: 0, the init's own, for a non-root operator,
	// whose one id both share; another, unprivileged on the host, for a
	// root operator.
	OuterUID int `json:"outer_uid"`
	OuterGID int `json:"outer_gid"`
	// WorkspaceTree says the host passes the mounted workspace on fd
	// WorkspaceTreeFD as a detached, idmapped mount tree, to attach
	// instead of binding WorkspaceHost.
	WorkspaceTree bool `json:"workspace_tree,omitempty"`
	// CA is the bottle CA (PEM): the system bundle and CAFile.
	CA []byte `json:"ca"`
	// SidecarDir is the host folder where the sidecar's Unix socket
	// appears, possibly after the init starts.
	SidecarDir string `json:"sidecar_dir"`
	// Control is where the init listens for exec requests, on the host.
	Control string `json:"control"`
	// Files are provisioned before the command starts.
	Files []File `json:"files"`
	// Hide are host paths hidden inside besides the fresh folders.
	Hide []string `json:"hide"`
	// Env and Command are the agent command's environment and argv.
	Env     []string `json:"env"`
	Command []string `json:"command"`
	WorkDir string   `json:"workdir"`
}

// File is one provisioned file.
type File struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"`
	Data []byte `json:"data"`
	// Root keeps the file root's; the agent owns the others.
	Root bool `json:"root,omitempty"`
}

// Paths inside a native bottle.
const (
	// RunDir holds the bottle's own files: the CA and the egress socket.
	RunDir = "/run/bot-bottle"
	// RestoreFile is where Config.Restore is shown, read-only.
	RestoreFile = RunDir + "/restore.tar"
	// CAFile is the bottle CA; the CA variables name it.
	CAFile = RunDir + "/ca.crt"
	// SidecarDir is where the sidecar's folder appears inside, and
	// SocketFile its socket.
	SidecarDir = RunDir + "/sidecar"
	SocketFile = SidecarDir + "/egress.sock"
	// ProxyAddr is the relay the proxy variables name.
	ProxyAddr = "127.0.0.1:9099"
	// WorkspaceTreeFD is where the init finds the workspace tree.
	WorkspaceTreeFD = 5
)
