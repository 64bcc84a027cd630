// Package backend defines what a bottle runtime must do. A backend runs a
// bottle: an agent runtime whose only way out is the bottle's sidecar. Every
// backend implements Backend and passes the shared escape suite in
// internal/testinfra/escape.
//
// The launcher (internal/launch) turns a resolved manifest into a Spec; a
// backend never reads manifests, and only the sidecar ever receives the
// secrets in Spec.Secrets.
package backend

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Labels every backend puts on what it creates, so that list and cleanup
// find them without any other record.
const (
	LabelManaged  = "io.bot-bottle.managed" // "1"
	LabelSlug     = "io.bot-bottle.slug"
	LabelRole     = "io.bot-bottle.role" // RoleAgent, RoleSidecar, RoleNetwork, RoleImage
	LabelAgent    = "io.bot-bottle.agent"
	LabelBottles  = "io.bot-bottle.bottles" // comma-separated
	LabelOwner    = "io.bot-bottle.owner-pid"
	LabelStateDir = "io.bot-bottle.state-dir"
)

// Roles of labelled resources.
const (
	RoleAgent   = "agent"
	RoleSidecar = "sidecar"
	RoleNetwork = "network"
	RoleImage   = "image"
)

// Ports the sidecar serves to the agent. Nothing else of the sidecar is
// reachable from the bottle.
const (
	PortEgress = 9099
	PortDNS    = 53
)

// Paths inside the agent runtime where the CA certificate is provisioned,
// and the variables pointing at it (SPEC 3.1).
const (
	AgentCAFile = "/usr/local/share/ca-certificates/bot-bottle.crt"
)

// CAEnv lists the variables set to AgentCAFile in the agent's environment.
var CAEnv = []string{"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "CODEX_CA_CERTIFICATE"}

// ErrNotFound reports a slug the backend does not know.
var ErrNotFound = errors.New("no such bottle")

// Backend runs bottles. Methods are safe for concurrent use on different
// slugs.
type Backend interface {
	// Name is the backend's name as given to --backend.
	Name() string
	// Probe reports whether the backend can run bottles here. Its error
	// says why not and what to do about it.
	Probe(ctx context.Context) (Features, error)
	// Start builds what is missing, starts the sidecar, provisions the
	// agent runtime and starts spec.Command in it as the agent user. On
	// error it removes whatever it created.
	Start(ctx context.Context, spec *Spec, progress io.Writer) error
	// Attach connects stdio to the main command of a started bottle and
	// returns its exit status once it ends. When ctx ends first, Attach
	// detaches and returns ctx's error; the bottle keeps running.
	// Without a terminal, the first Attach to a foreground bottle feeds
	// the command's stdin from Stdin and closes it at Stdin's end, or at
	// once when Stdin is nil; a detached bottle's command has a closed
	// stdin.
	Attach(ctx context.Context, slug string, s Stdio) (int, error)
	// Exec runs another command in a started bottle as the agent user and
	// returns its exit status.
	Exec(ctx context.Context, slug string, e Exec) (int, error)
	// Stop stops and removes everything the backend created for slug. It
	// is idempotent: a slug with nothing left is not an error.
	Stop(ctx context.Context, slug string) error
	// List returns the bottles this backend has resources for, including
	// half-created and orphaned ones.
	List(ctx context.Context) ([]Instance, error)
	// Logs writes the sidecar's and the agent runtime's logs to w.
	Logs(ctx context.Context, slug string, w io.Writer) error
	// DialControl connects to the control listener of slug's sidecar
	// (internal/control), from the host, never from a bottle. It returns
	// ErrNotFound for a bottle without a running sidecar.
	DialControl(ctx context.Context, slug string) (net.Conn, error)
}

// Committer is a backend that can save a bottle's agent runtime (what it
// started from and what the agent changed since) so that a later start of
// the bottle runs from it (bot-bottle commit).
type Committer interface {
	// Commit saves slug's agent runtime, running or stopped, and returns
	// the reference a later Spec.Image.Committed names.
	Commit(ctx context.Context, slug string) (string, error)
	// Forget removes a saved runtime; one already gone is not an error.
	Forget(ctx context.Context, ref string) error
}

// Features describes what a backend offers on this machine, for the
// preflight summary.
type Features struct {
	// Runtime is e.g. "docker 20.10.24 (API 1.41)".
	Runtime string
	// Isolation is e.g. "gVisor (runsc)" or "runc".
	Isolation string
	// Notes are degradations the operator should know about.
	Notes []string
	// OwnsWorkspace says the agent writes a mounted workspace as its
	// owner whoever runs bot-bottle (an idmapped mount); otherwise as the
	// spec's User.
	OwnsWorkspace bool
}

// Spec is everything a backend needs to start one bottle.
type Spec struct {
	Slug    string
	Agent   string
	Bottles []string
	// StateDir is $BOT_BOTTLE_HOME/state/<slug>; the backend may keep its
	// own files below it and must not touch anything else.
	StateDir string
	// PolicyFile is the compiled policy the sidecar enforces.
	PolicyFile string
	// CADir holds the bottle's interception CA (ca.crt, ca.key). The key
	// goes to the sidecar only.
	CADir string
	// AuditFile is where the sidecar appends its audit log.
	AuditFile string
	// Secrets maps a policy slot to its value; only the sidecar gets them.
	Secrets map[string]secret.Value
	// RetireEnv are the host variables that retiring the bottle reads
	// (the forge tokens that revoke its deploy keys), for a backend whose
	// own process retires a detached bottle that ends on its own (the
	// native keeper). They go to that process only, never into the bottle,
	// and are never written to disk.
	RetireEnv []EnvVar
	// ControlToken authenticates the host on the sidecar's control
	// channel; only the sidecar gets it, never the agent.
	ControlToken secret.Value
	// UpstreamCA, when set, is a PEM file the sidecar trusts upstream.
	UpstreamCA string
	// Resolve pins upstream names in the sidecar: host -> addr:port.
	Resolve map[string]string
	// SuperviseTimeout is how long the sidecar's proposals wait for the
	// operator; zero is supervise.DefaultTimeout.
	SuperviseTimeout time.Duration
	// Image is the agent runtime's image recipe.
	Image Image
	// User is the agent user inside the runtime.
	User User
	// Env is the agent's environment, KEY=VALUE, without the proxy and CA
	// variables, which the backend adds.
	Env []EnvVar
	// Files are provisioned into the runtime before anything runs.
	Files []File
	// HomeDir, when set, is a host folder below StateDir that holds the
	// agent's home from one start to the next (start --keep-home): the
	// backend shows it at User.Home, owned by the agent user, and
	// provisions Files into it replacing whatever the agent left at their
	// paths, links included, without following one. Only the runtime
	// writes into it; the host never reads what the agent put there.
	HomeDir string
	// Workspace is how the working tree enters the runtime.
	Workspace Workspace
	// Hide are host paths a backend that shows the host's files must hide:
	// files and folders that the bottle's env and route tokens name.
	Hide []string
	// Resources limit the agent runtime; zero means no limit.
	Resources Resources
	// AllowUnenforcedLimits lets a bottle start where the backend cannot
	// enforce its Resources; without it, such a start fails.
	AllowUnenforcedLimits bool
	// Command is the bottle's main command: the provider CLI, or the
	// command given after --. The bottle lives as long as it runs.
	Command []string
	// TTY gives Command a terminal; Attach then expects one too.
	TTY bool
	// Detached records that no process owns the bottle (start --detach).
	Detached bool
	// OwnerPID is the pid of the bot-bottle process that owns the bottle,
	// recorded so that cleanup can tell orphans.
	OwnerPID int
}

// Stdio is what Attach connects to a bottle's main command.
type Stdio struct {
	// Stdin, when set, is copied to the command (see Backend.Attach).
	Stdin  io.Reader
	Stdout io.Writer
	// Stderr receives the command's standard error unless TTY.
	Stderr io.Writer
	TTY    bool
	// Resize, when TTY, delivers terminal size changes (rows, cols).
	Resize <-chan [2]uint
}

// EnvVar is one variable of the agent's environment. Value may hold a
// secret the agent is meant to have (a manifest env entry).
type EnvVar struct {
	Name  string
	Value secret.Value
}

// Image is how to build the agent runtime's image.
type Image struct {
	// Dockerfile is the recipe's text.
	Dockerfile string
	// Context holds extra files of the build context, by path.
	Context map[string][]byte
	// BuildArgs are passed to the build (e.g. BASE_IMAGE).
	BuildArgs map[string]string
	// Name is the repository the image is tagged in; the tag is the
	// content hash of everything above.
	Name string
	// Committed, when set, is a runtime Committer.Commit saved: the
	// bottle starts from it instead of the recipe.
	Committed string
}

// User is the agent user inside the runtime.
type User struct {
	Name string
	UID  int
	GID  int
	Home string
}

// File is one provisioned file. Owner is the agent user unless Root.
type File struct {
	Path string
	Mode int64
	Data []byte
	Root bool
}

// WorkspaceMode is how the working tree enters the runtime.
type WorkspaceMode string

// Workspace modes; the manifest's workspace.mode names the same ones.
const (
	// WorkspaceMount shows the host's tree in the runtime, read-write.
	WorkspaceMount WorkspaceMode = "mount"
	// WorkspaceCopy copies the tree in; nothing returns to the host.
	WorkspaceCopy WorkspaceMode = "copy"
	// WorkspaceNone gives the runtime an empty folder.
	WorkspaceNone WorkspaceMode = "none"
)

// Workspace is how the working tree enters the runtime.
type Workspace struct {
	Mode WorkspaceMode
	// HostPath is the working tree on the host.
	HostPath string
	// Path is where it appears in the runtime.
	Path string
	// Pinned are folders below HostPath (relative, slash-separated) that a
	// mounted workspace binds onto themselves, so that the agent can
	// neither rename nor replace them; ReadOnly are paths below HostPath
	// it binds read-only, after Pinned, parents first. Every one exists
	// and none is or goes through a symbolic link when Start is called.
	Pinned   []string
	ReadOnly []string
}

// Resources limit the agent runtime.
type Resources struct {
	MilliCPUs int64
	Memory    int64
	Pids      int64
}

// Exec is one command to run in a bottle.
type Exec struct {
	Cmd []string
	Stdio
	// Env adds variables for this command only.
	Env []string
	// WorkDir defaults to the workspace path.
	WorkDir string
	// Root runs the command as root instead of the agent user, still
	// without capabilities. For tests and operators, never for the agent.
	Root bool
}

// State is what is left of a bottle.
type State string

// States of a bottle as List reports them.
const (
	// StateRunning: every part exists and runs.
	StateRunning State = "running"
	// StatePartial: some parts are missing or stopped (a start under way,
	// a crash, a half-removed bottle).
	StatePartial State = "partial"
	// StateStopped: parts exist and none runs.
	StateStopped State = "stopped"
)

// Instance is a bottle as the backend sees it.
type Instance struct {
	Slug    string
	Backend string
	Agent   string
	Bottles []string
	State   State
	Created time.Time
	// OwnerPID is the pid of the bot-bottle process that owns it: the one
	// that started it, or for a detached bottle the one starting it (a
	// detached bottle outlives its starter; while the starter lives, a
	// partial detached bottle is one still starting, not an orphan).
	OwnerPID int
	// Detached reports a bottle started with start --detach.
	Detached bool
	// Resources names what the backend holds for it (containers, networks).
	Resources []string
}
