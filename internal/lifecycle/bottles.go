package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/proc"
)

// Bottle is a bottle some backend holds resources for.
type Bottle struct {
	backend.Instance
	// Orphan says it has lost its owner (Orphaned).
	Orphan bool `json:"orphan"`
	// Label and Color are the operator's names for it, from its record.
	Label string `json:"label,omitempty"`
	Color string `json:"color,omitempty"`
}

// Orphaned reports whether a bottle has lost its owner. A foreground
// bottle is an orphan once the bot-bottle process that runs it is gone. A
// detached one outlives its starter: it is an orphan when parts of it are
// missing or stopped and no starter is still bringing it up.
func Orphaned(in backend.Instance) bool {
	if in.Detached {
		return in.State != backend.StateRunning && !proc.Alive(in.OwnerPID)
	}
	if in.OwnerPID > 0 {
		return !proc.Alive(in.OwnerPID)
	}
	return in.State != backend.StateRunning
}

// Find returns slug as be lists it.
func (m *Manager) Find(ctx context.Context, be backend.Backend, slug string) (Bottle, bool, error) {
	list, err := be.List(ctx)
	if err != nil {
		return Bottle{}, false, fmt.Errorf("%s: %w", be.Name(), err)
	}
	for _, in := range list {
		if in.Slug == slug {
			return Bottle{Instance: in, Orphan: Orphaned(in)}, true, nil
		}
	}
	return Bottle{}, false, nil
}

// Active lists the bottles of every registered backend. A backend that
// cannot list is reported in the errors and the others still are.
func (m *Manager) Active(ctx context.Context) ([]Bottle, []error) {
	all, errs, _ := m.active(ctx)
	return all, errs
}

// active is Active, and the names of the backends that could not list.
func (m *Manager) active(ctx context.Context) ([]Bottle, []error, map[string]bool) {
	var all []Bottle
	var errs []error
	failed := map[string]bool{}
	for _, name := range m.Backends.Names() {
		be, err := m.Backend(name)
		if err != nil {
			errs = append(errs, err)
			failed[name] = true
			continue
		}
		list, err := be.List(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			failed[name] = true
			continue
		}
		for _, in := range list {
			b := Bottle{Instance: in, Orphan: Orphaned(in)}
			if rec, err := launch.ReadRecord(m.Home, in.Slug); err == nil {
				b.Label, b.Color = rec.Label, rec.Color
			}
			all = append(all, b)
		}
	}
	return all, errs, failed
}

// CleanupPlan is what cleanup removes.
type CleanupPlan struct {
	// Orphans are bottles whose owner is gone.
	Orphans []Bottle
	// Keys are records of removed bottles that still list deploy keys: a
	// revoke that failed, or a CLI that died before it could revoke.
	Keys []launch.Record
	// Expired are the state folders (record, audit log) of ended bottles
	// last written longer ago than the retention.
	Expired []launch.StateFolder
}

// Empty reports a plan with nothing to do.
func (p CleanupPlan) Empty() bool {
	return len(p.Orphans) == 0 && len(p.Keys) == 0 && len(p.Expired) == 0
}

// DefaultKeepState is how long cleanup keeps an ended bottle's state
// folder: what resume and the audit log need.
const DefaultKeepState = 30 * 24 * time.Hour

// minKeepState protects the state of a bottle that is starting: its
// record is written before any backend lists it.
const minKeepState = time.Minute

// PlanCleanup finds the orphans of every backend, the deploy keys left by
// removed bottles, and the state folders of ended bottles untouched for
// keepState (at least a minute; negative keeps them all). A live
// bottle's keys and state are never in the plan, nor the state of a
// bottle whose backend cannot list.
func (m *Manager) PlanCleanup(ctx context.Context, keepState time.Duration) (CleanupPlan, []error) {
	all, errs, failed := m.active(ctx)
	var p CleanupPlan
	if keepState >= 0 {
		keepState = max(keepState, minKeepState)
		for _, f := range launch.StateFolders(m.Home) {
			rec := f.Record
			listed := slices.ContainsFunc(all, func(b Bottle) bool { return b.Slug == rec.Slug })
			if listed || failed[rec.Backend] || len(rec.DeployKeys) > 0 || time.Since(f.Touched) < keepState {
				continue
			}
			p.Expired = append(p.Expired, f)
		}
	}
	for _, b := range all {
		if b.Orphan {
			p.Orphans = append(p.Orphans, b)
		}
	}
	for _, rec := range launch.RecordsWithDeployKeys(m.Home) {
		live := slices.ContainsFunc(all, func(b Bottle) bool { return b.Slug == rec.Slug && !b.Orphan })
		if !live {
			p.Keys = append(p.Keys, rec)
		}
	}
	return p, errs
}

// Cleanup carries out p: it revokes the left keys, then removes and
// retires each orphan. done is told of each thing done; every failure is
// in the error, and the rest is still tried.
func (m *Manager) Cleanup(ctx context.Context, p CleanupPlan, done func(string)) error {
	var errs []error
	for _, rec := range p.Keys {
		if err := launch.RevokeDeployKeys(ctx, m.Home, rec.Slug, m.lookup); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rec.Slug, err))
			continue
		}
		done("revoked the deploy keys of " + rec.Slug)
	}
	for _, b := range p.Orphans {
		be, err := m.Backend(b.Backend)
		if err == nil {
			err = m.Remove(ctx, be, b.Slug)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.Slug, err))
			continue
		}
		done("removed " + b.Slug)
	}
	for _, f := range p.Expired {
		if err := m.forgetCommitted(ctx, f.Record); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Record.Slug, err))
			continue
		}
		if err := launch.RemoveState(m.Home, f); err != nil {
			errs = append(errs, err)
			continue
		}
		done("removed the state of " + f.Record.Slug)
	}
	return errors.Join(errs...)
}

// Resumption is what resuming a bottle finds.
type Resumption struct {
	// Record is the bottle's state record: its agent, bottles, backend,
	// working tree and command, to start it again with.
	Record  launch.Record
	Backend backend.Backend
	// Running says the bottle still runs: resume attaches to it.
	Running bool
}

// ErrElsewhere reports a resume from another working tree than the
// bottle's.
var ErrElsewhere = errors.New("bottle worked elsewhere")

// Resume finds slug's record and backend and says whether it still runs.
// A bottle that no longer runs resumes only from the working tree it had:
// cwd must be its record's.
func (m *Manager) Resume(ctx context.Context, slug, cwd string) (Resumption, error) {
	rec, err := launch.ReadRecord(m.Home, slug)
	if err != nil {
		return Resumption{}, err
	}
	be, err := m.Backend(rec.Backend)
	if err != nil {
		return Resumption{}, err
	}
	r := Resumption{Record: rec, Backend: be}
	b, found, err := m.Find(ctx, be, slug)
	if err != nil {
		return r, err
	}
	if found && b.State == backend.StateRunning {
		r.Running = true
		return r, nil
	}
	if cwd != rec.Cwd {
		return r, fmt.Errorf("%w: bottle %s worked in %s; run resume from there", ErrElsewhere, slug, rec.Cwd)
	}
	if found {
		// What the bottle left (its command ended, or it died) would
		// refuse the new start: remove it as stop would.
		if err := m.Remove(ctx, be, slug); err != nil {
			return r, err
		}
	}
	return r, nil
}

// Commit saves slug's agent runtime (backend.Committer) and records it,
// so that resume starts from it; the runtime an earlier commit saved is
// removed. It returns the saved runtime's reference.
func (m *Manager) Commit(ctx context.Context, slug string) (string, error) {
	rec, err := launch.ReadRecord(m.Home, slug)
	if err != nil {
		return "", err
	}
	be, err := m.Backend(rec.Backend)
	if err != nil {
		return "", err
	}
	c, ok := be.(backend.Committer)
	if !ok {
		return "", fmt.Errorf("the %s backend cannot commit a bottle: what its bottles write is the workspace and the home; start with --keep-home to keep the home", be.Name())
	}
	ref, err := c.Commit(ctx, slug)
	if err != nil {
		return "", err
	}
	old := rec.Committed
	rec.Committed = ref
	if err := launch.WriteRecord(launch.StateDir(m.Home, slug), rec); err != nil {
		return "", errors.Join(err, c.Forget(ctx, ref))
	}
	if old != "" && old != ref {
		if err := c.Forget(ctx, old); err != nil {
			return ref, fmt.Errorf("the runtime of the earlier commit stays: %w", err)
		}
	}
	return ref, nil
}

// forgetCommitted removes the runtime rec's bottle was committed as.
func (m *Manager) forgetCommitted(ctx context.Context, rec launch.Record) error {
	if rec.Committed == "" {
		return nil
	}
	be, err := m.Backend(rec.Backend)
	if err != nil {
		return err
	}
	if c, ok := be.(backend.Committer); ok {
		return c.Forget(ctx, rec.Committed)
	}
	return nil
}
