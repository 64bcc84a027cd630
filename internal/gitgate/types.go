package gitgate

import (
	"context"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Command is one ref update the agent asked for in a push.
type Command struct {
	Name plumbing.ReferenceName
	// Old is the value the agent believes the ref has; zero for a create.
	Old plumbing.Hash
	// New is the value to set; zero for a delete.
	New plumbing.Hash
}

// Create reports whether c creates its ref.
func (c Command) Create() bool { return c.Old.IsZero() && !c.New.IsZero() }

// Delete reports whether c deletes its ref.
func (c Command) Delete() bool { return c.New.IsZero() }

// Push is a push under review. Its objects are still in quarantine: they
// are in Objects, which reads through to the mirror, and not yet in the
// mirror itself.
type Push struct {
	Repo     string
	Commands []Command
	// Options are the push options (git push -o), in the order sent.
	Options []string
	// PackBytes is the size of the pack the agent sent.
	PackBytes int64
	// Objects reads the quarantined objects layered over the mirror's.
	Objects storer.EncodedObjectStorer
	// Mirror is the repository as it was before the push (refreshed from
	// the upstream just before the agent's push began).
	Mirror *git.Repository
	// NewCommits are the commits reachable from the new tips that the
	// mirror does not hold: exactly the commits new to the upstream.
	NewCommits []plumbing.Hash
	// DefaultBranch is the upstream's default branch, such as
	// refs/heads/main; empty when the upstream has none (an empty repo).
	DefaultBranch plumbing.ReferenceName
}

// Rejection refuses one ref of a push, or the whole push when Ref is
// empty.
type Rejection struct {
	Ref plumbing.ReferenceName
	// Rule is a stable code for the audit log, such as "secret-detected",
	// "branch-not-allowed", "protected-path", "push-too-large".
	Rule string
	// Reason is short; the client shows it as "! [remote rejected] REF (REASON)".
	Reason string
	// Detail lines are shown to the agent as "remote: " lines. They never
	// hold a secret value.
	Detail []string
	// Withhold is set when Ref's name itself holds a potential secret:
	// the gate records the ref as WithheldRef, never by its name.
	Withhold bool
	// Allowed, when set, lists the findings marked gitleaks:allow that
	// are this rejection's only cause: an operator may approve them
	// (Config.Holder), and the push then goes through.
	Allowed []AllowMarked
}

// AllowMarked is one finding in a file marked gitleaks:allow. It never
// holds the secret.
type AllowMarked struct {
	Commit string
	File   string
	Line   int
	Rule   string
	// Reason is the text after the marker (untrusted).
	Reason string
}

// WithheldRef stands in the audit log for a refused ref whose name holds
// a potential secret.
const WithheldRef = "[withheld ref name]"

// Checker decides on a push before anything is stored or forwarded.
type Checker interface {
	// Check returns the push's rejections; none means accepted. An error
	// refuses the whole push (fail closed).
	Check(ctx context.Context, p *Push) ([]Rejection, error)
}

// NameScreener is implemented by a Checker that can tell whether a ref
// name holds a potential secret. The gate asks it about every ref of a
// push it records, including those refused before the Checker runs (an
// invalid name, a stale old value, a pack too large), and records such a
// ref as WithheldRef.
type NameScreener interface {
	HoldsSecret(ctx context.Context, name string) bool
}

// Update is one ref update to forward upstream.
type Update struct {
	Command
	// Force is set when New does not descend from Old (a forced push).
	Force bool
}

// Upstream is where a repository's mirror is refreshed from and where
// accepted pushes go.
type Upstream interface {
	// Fetch brings mirror up to date with the upstream: every branch and
	// tag set to the upstream's value (forced), refs deleted upstream
	// removed, and HEAD pointing at the upstream's default branch. A
	// failure is returned as an error the agent can read.
	Fetch(ctx context.Context, mirror *git.Repository) error
	// Push forwards updates whose objects are in mirror, with the given
	// push options. It returns one result per update, in order (nil means
	// the upstream accepted it), or an error when nothing was forwarded.
	// progress receives the upstream's messages for the agent.
	Push(ctx context.Context, mirror *git.Repository, updates []Update, options []string, progress io.Writer) ([]error, error)
}

// Host is the name under which the agent reaches the gate, through its
// proxy: http://_gitgate.local/NAME.git. It never leaves the sidecar.
const Host = "_gitgate.local"

// URL returns the gate's URL of repository name, the base the agent's
// gitconfig rewrites the upstream to.
func URL(name string) string { return "http://" + Host + "/" + name + ".git" }
