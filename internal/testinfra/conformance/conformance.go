// Package conformance is the lifecycle suite every backend runs: start and
// stop are idempotent, a failed start leaves nothing, list shows partial
// and orphaned bottles and only those of its own state root, attach ends
// with its context or the command, exec returns the status, logs, resume,
// and cleanup after a killed owner. A backend runs it with its own
// Harness; it never tests isolation, which is the escape suite's job.
package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// Harness is what a backend gives the suite.
type Harness struct {
	// New returns a backend whose bottles live under stateRoot
	// ($BOT_BOTTLE_HOME/state): the suite sets every spec's StateDir to
	// stateRoot/SLUG, as the launcher does.
	New func(t *testing.T, stateRoot string) backend.Backend
	// Spec returns a minimal runnable spec for slug (BaseSpec plus what
	// the backend needs, such as an image and a user). The suite sets its
	// StateDir, Command, Detached and OwnerPID.
	Spec func(t *testing.T, slug string) *backend.Spec
	// FailStart, when set, changes spec so that Start fails on this
	// backend deterministically, after it has created something; without
	// it the suite uses BadUpstreamCA, which stops every sidecar. (A
	// command that does not exist is no failed start on Docker or native:
	// the bottle's init starts and the command exits 127.)
	FailStart func(t *testing.T, spec *backend.Spec)
	// BreakSidecar kills a started bottle's sidecar the way a crash
	// would, so that List must call it partial.
	BreakSidecar func(t *testing.T, b backend.Backend, slug string)
	// Leftovers names what of slug's bottle still exists on the host
	// (containers, networks, folders, cgroups, processes): nothing after
	// Stop or a failed Start.
	Leftovers func(t *testing.T, b backend.Backend, slug string) []string
	// Lacks names the cases (by subtest name) the backend documents it
	// cannot pass, each with the reason; they are skipped with it.
	Lacks map[string]string
}

// Commands the suite runs: every backend has them, the fake interprets
// them.
var (
	cmdSleep = []string{"sleep", "infinity"}
	cmdFalse = []string{"false"}
)

// Env is a variable BaseSpec gives the agent, which Exec reads back.
const (
	EnvName  = "CONFORMANCE_VAR"
	EnvValue = "conformance-value"
)

// ControlToken is BaseSpec's control token.
const ControlToken = "conformance-control-token-0123456789abcdef" //nolint:gosec // G101: a test token

const policyJSON = `{"version": 1, "bottle": "conformance", "log": 2,
  "routes": [{"host": "api.allowed.test", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"},
    "dlp": {"outbound": ["known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false}],
  "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "T", "hosts": ["api.allowed.test"]}]}`

// BaseSpec returns a spec every backend can start given an image and a
// user: a CA, a policy, a control token, one secret and one variable, no
// workspace.
func BaseSpec(t *testing.T, slug string) *backend.Spec {
	t.Helper()
	dir := t.TempDir()
	if _, err := egress.LoadOrCreateCA(filepath.Join(dir, "ca"), "conformance"); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(pol, []byte(policyJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	return &backend.Spec{
		Slug: slug, Agent: "conformance", Bottles: []string{"conformance"},
		PolicyFile:   pol,
		CADir:        filepath.Join(dir, "ca"),
		AuditFile:    filepath.Join(dir, "audit.jsonl"),
		Secrets:      map[string]secret.Value{"EGRESS_TOKEN_0": secret.New("conformance-secret-value")},
		ControlToken: secret.New(ControlToken),
		Env:          []backend.EnvVar{{Name: EnvName, Value: secret.New(EnvValue)}},
		Workspace:    backend.Workspace{Mode: backend.WorkspaceNone, Path: "/workspace"},
		Command:      cmdSleep,
		OwnerPID:     os.Getpid(),
	}
}

// suite is one run of the suite.
type suite struct {
	h    Harness
	root string
	b    backend.Backend
	// prefix and n make the slugs of one run unique on the host.
	prefix string
	n      atomic.Int32
}

// Run runs every case against h, one after the other.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h, root: shortDir(t, "state")}
	s.b = h.New(t, s.root)
	s.prefix = fmt.Sprintf("cf%04d", time.Now().UnixNano()/1000%10000)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if reason, ok := h.Lacks[c.name]; ok {
				t.Skipf("%s lacks this: %s", s.b.Name(), reason)
			}
			c.run(t, s)
		})
	}
}

// shortDir returns a new folder with a short path, removed when t ends:
// unix socket paths below it must stay under the kernel's limit, which
// t.TempDir's paths of long subtest names do not.
func shortDir(t *testing.T, sub string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bbcf") //nolint:usetesting // see above
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := filepath.Join(dir, sub)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// slug returns a slug no other case of any run uses.
func (s *suite) slug() string {
	return fmt.Sprintf("%s-%d", s.prefix, s.n.Add(1))
}

// spec returns the harness's spec for slug, in the suite's state root.
func (s *suite) spec(t *testing.T, slug string, cmd ...string) *backend.Spec {
	t.Helper()
	return s.specIn(t, s.root, slug, cmd...)
}

func (s *suite) specIn(t *testing.T, root, slug string, cmd ...string) *backend.Spec {
	t.Helper()
	spec := s.h.Spec(t, slug)
	spec.StateDir = filepath.Join(root, slug)
	// The launcher creates the state folder; it outlives the bottle.
	if err := os.MkdirAll(spec.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if len(cmd) > 0 {
		spec.Command = cmd
	} else {
		spec.Command = cmdSleep
	}
	spec.OwnerPID = os.Getpid()
	return spec
}

// start starts spec on b, stopping it when t ends.
func (s *suite) start(t *testing.T, b backend.Backend, spec *backend.Spec) {
	t.Helper()
	t.Cleanup(func() { _ = b.Stop(context.WithoutCancel(t.Context()), spec.Slug) })
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var progress backendtest.SyncBuffer
	if err := b.Start(ctx, spec, &progress); err != nil {
		t.Fatalf("Start(%s) = %v\n%s", spec.Slug, err, progress.String())
	}
}

// stop stops slug and checks that nothing of it is left.
func (s *suite) stop(t *testing.T, b backend.Backend, slug string) {
	t.Helper()
	if err := b.Stop(t.Context(), slug); err != nil {
		t.Fatalf("Stop(%s) = %v", slug, err)
	}
	s.requireGone(t, b, slug)
}

// requireGone fails t unless nothing of slug is left, on the host or in
// b's List.
func (s *suite) requireGone(t *testing.T, b backend.Backend, slug string) {
	t.Helper()
	if left := s.h.Leftovers(t, b, slug); len(left) > 0 {
		t.Errorf("left of %s: %v", slug, left)
	}
	if in, ok := s.find(t, b, slug); ok {
		t.Errorf("List still has %s: %+v", slug, in)
	}
}

// find returns slug's entry in b's List.
func (s *suite) find(t *testing.T, b backend.Backend, slug string) (backend.Instance, bool) {
	t.Helper()
	list, err := b.List(t.Context())
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	for _, in := range list {
		if in.Slug == slug {
			return in, true
		}
	}
	return backend.Instance{}, false
}

// requireState waits a while for slug to be listed in state want.
func (s *suite) requireState(t *testing.T, b backend.Backend, slug string, want backend.State) backend.Instance {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		in, ok := s.find(t, b, slug)
		if ok && in.State == want {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("List() has %s as %+v (found %v), want state %s", slug, in, ok, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deadPID returns the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	pid, err := backendtest.DeadPID()
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
