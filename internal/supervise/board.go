package supervise

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// BoardConfig configures a Board.
type BoardConfig struct {
	Bottle string
	// Timeout is how long a proposal waits for a decision; zero is
	// DefaultTimeout.
	Timeout time.Duration
	// Policy returns the policy in force, grants included.
	Policy func() *policy.Policy
	// Reapply puts the board's grants (Grants) in force over the bottle's
	// policy, or changes nothing and fails. The board never calls it while
	// holding its own lock.
	Reapply func() error
	// Resolve returns the addresses a host reaches (pinned or looked up),
	// for the private-address risk.
	Resolve func(ctx context.Context, host string) []netip.Addr
	// Refusals returns the bottle's recent refusals, newest first.
	Refusals func() []Block
	// Redact replaces the known secrets in a text the agent wrote.
	Redact func(string) string
	// Audit records each proposal, decision and expiry.
	Audit func(Record)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Record is one audit record of the board.
type Record struct {
	Proposal string
	Kind     Kind
	// Event is proposed, approved, modified, rejected, expired,
	// grant-expired or grant-used-up.
	Event   string
	Host    string
	By      string
	Summary string
	Notes   string
	Diff    []string
}

// keepDecided is how many decided proposals a board keeps for the
// operator's views.
const keepDecided = 64

// Board holds a bottle's proposals and grants. It implements Agent and
// Holder for the bottle's side and Decide for the host's.
type Board struct {
	cfg BoardConfig

	// applyMu serialises Reapply calls, so that grants go in force in
	// the order they were decided.
	applyMu sync.Mutex

	mu     sync.Mutex
	props  []*entry
	grants []*grant
	closed bool
	// dlpRefused holds the hosts outbound DLP refused (NoteRefusal).
	dlpRefused map[string]bool
}

type entry struct {
	p     Proposal
	match policy.Match
	done  chan struct{}
}

type grant struct {
	Grant
	// unlimited is set when the grant has no use count.
	unlimited bool
}

// NewBoard returns an empty board.
func NewBoard(cfg BoardConfig) *Board {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Redact == nil {
		cfg.Redact = func(s string) string { return s }
	}
	return &Board{cfg: cfg}
}

// ErrNotFound reports a proposal this bottle does not hold.
var ErrNotFound = errors.New("no such proposal")

// Run expires proposals and grants on time until ctx ends, then expires
// every pending proposal: a held request or push fails closed when the
// sidecar stops.
func (b *Board) Run(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			b.Close()
			return
		case <-t.C:
			b.Expire()
		}
	}
}

// Close expires every pending proposal and refuses new ones.
func (b *Board) Close() {
	b.mu.Lock()
	b.closed = true
	var recs []Record
	for _, e := range b.props {
		if e.p.Status == StatusPending {
			recs = append(recs, b.finish(e, Decision{Status: StatusExpired, Reason: "the sidecar stopped"}))
		}
	}
	b.mu.Unlock()
	b.audit(recs...)
}

// Expire ends the proposals and grants whose time is up.
func (b *Board) Expire() {
	now := b.cfg.Now()
	b.mu.Lock()
	var recs []Record
	for _, e := range b.props {
		if e.p.Status == StatusPending && !now.Before(e.p.Deadline) {
			recs = append(recs, b.finish(e, Decision{Status: StatusExpired, Reason: "no operator decided in time"}))
		}
	}
	dropped := false
	b.grants = slices.DeleteFunc(b.grants, func(g *grant) bool {
		if g.Expires.IsZero() || now.Before(g.Expires) {
			return false
		}
		dropped = true
		recs = append(recs, Record{Proposal: g.ID, Kind: KindRoute, Event: "grant-expired", Host: g.Host, Summary: "the grant's time is up; the route it added is removed"})
		return true
	})
	b.mu.Unlock()
	b.audit(recs...)
	if dropped {
		b.reapply()
	}
}

// reapply puts the grants in force, logging a failure: removing a grant
// only narrows the policy, so it cannot fail validation.
func (b *Board) reapply() {
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	if err := b.cfg.Reapply(); err != nil {
		b.cfg.Log.Error("supervise: putting the grants in force", "err", err)
	}
}

func (b *Board) audit(recs ...Record) {
	if b.cfg.Audit == nil {
		return
	}
	for _, r := range recs {
		b.cfg.Audit(r)
	}
}

// finish decides e; b.mu is held.
func (b *Board) finish(e *entry, d Decision) Record {
	d.At = b.cfg.Now().UTC()
	e.p.Status = d.Status
	e.p.Decision = &d
	close(e.done)
	b.trim()
	host := ""
	switch {
	case e.p.Route != nil:
		host = e.p.Route.Host
	case e.p.Hold != nil:
		host = e.p.Hold.Host
	}
	notes := d.Notes
	if d.Reason != "" {
		notes = d.Reason
	}
	return Record{Proposal: e.p.ID, Kind: e.p.Kind, Event: string(d.Status), Host: host, By: d.By, Summary: e.p.Summary, Notes: notes, Diff: diffTexts(e.p.Diff)}
}

// trim drops the oldest decided proposals over keepDecided; b.mu is held.
func (b *Board) trim() {
	decided := 0
	for _, e := range b.props {
		if e.p.Status.Decided() {
			decided++
		}
	}
	for i := 0; decided > keepDecided && i < len(b.props); {
		if b.props[i].p.Status.Decided() {
			b.props = slices.Delete(b.props, i, i+1)
			decided--
			continue
		}
		i++
	}
}

func diffTexts(d []DiffLine) []string {
	out := make([]string, 0, len(d))
	for _, l := range d {
		out = append(out, l.Op+" "+l.Text)
	}
	return out
}

func newID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "p-" + hex.EncodeToString(b)
}

// add files p as pending; b.mu is held.
func (b *Board) add(p Proposal, m policy.Match) (*entry, error) {
	if b.closed {
		return nil, errors.New("the sidecar is stopping; nothing can be proposed now")
	}
	pending := 0
	for _, e := range b.props {
		if e.p.Status == StatusPending {
			pending++
		}
	}
	if pending >= MaxPending {
		return nil, fmt.Errorf("this bottle already has %d proposals waiting for the operator, the most it may; wait for them (wait_for_decision) before asking again", pending)
	}
	now := b.cfg.Now().UTC()
	p.ID, p.Bottle, p.Status = newID(), b.cfg.Bottle, StatusPending
	p.Created, p.Deadline = now, now.Add(b.cfg.Timeout)
	e := &entry{p: p, match: m, done: make(chan struct{})}
	b.props = append(b.props, e)
	return e, nil
}

func (b *Board) find(id string) *entry {
	for _, e := range b.props {
		if e.p.ID == id {
			return e
		}
	}
	return nil
}

func clone(p Proposal) Proposal {
	p.Risks = slices.Clone(p.Risks)
	p.Diff = slices.Clone(p.Diff)
	if p.Decision != nil {
		d := *p.Decision
		p.Decision = &d
	}
	if p.Route != nil {
		r := *p.Route
		p.Route = &r
	}
	return p
}

// Proposals returns every proposal the board holds, oldest first.
func (b *Board) Proposals() []Proposal {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Proposal, 0, len(b.props))
	for _, e := range b.props {
		out = append(out, clone(e.p))
	}
	return out
}

// Grants returns the grants in force as policy matches.
func (b *Board) Grants() []policy.GrantMatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]policy.GrantMatch, 0, len(b.grants))
	for _, g := range b.grants {
		out = append(out, policy.GrantMatch{ID: g.ID, Host: g.Host, Match: g.Match})
	}
	return out
}

// Use counts one use of grant id and reports whether it still holds. The
// last use removes the grant.
func (b *Board) Use(id string) bool {
	b.mu.Lock()
	i := slices.IndexFunc(b.grants, func(g *grant) bool { return g.ID == id })
	if i < 0 {
		b.mu.Unlock()
		return false
	}
	g := b.grants[i]
	if !g.Expires.IsZero() && !b.cfg.Now().Before(g.Expires) {
		b.mu.Unlock()
		return false
	}
	if g.unlimited {
		b.mu.Unlock()
		return true
	}
	g.UsesLeft--
	last := g.UsesLeft <= 0
	if last {
		b.grants = slices.Delete(b.grants, i, i+1)
	}
	b.mu.Unlock()
	if last {
		b.audit(Record{Proposal: id, Kind: KindRoute, Event: "grant-used-up", Host: g.Host, Summary: "the grant's last use; the route it added is removed"})
		go b.reapply()
	}
	return true
}
