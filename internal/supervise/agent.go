package supervise

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

var _ Agent = (*Board)(nil)

// RequestRoute files the agent's route request. An identical request
// still pending returns that proposal rather than a second one.
func (b *Board) RequestRoute(ctx context.Context, req RouteRequest) (Proposal, error) {
	req, m, err := Normalize(req, b.cfg.Redact)
	if err != nil {
		return Proposal{}, err
	}
	cur := b.cfg.Policy()
	diff, err := grantDiff(cur, req.Host, m)
	if err != nil {
		return Proposal{}, fmt.Errorf("the route does not validate: %w", err)
	}
	if len(diff) == 0 {
		return Proposal{}, errors.New("the policy already allows this; if a request is still refused, recent_blocks says by which rule (a DLP match or a git push is not a route matter)")
	}
	risks := b.risks(ctx, cur, req)
	b.mu.Lock()
	for _, e := range b.props {
		if e.p.Kind == KindRoute && e.p.Status == StatusPending && sameRoute(*e.p.Route, req) {
			p := clone(e.p)
			b.mu.Unlock()
			return p, nil
		}
	}
	route := req
	route.Reason = ""
	p := Proposal{
		Kind:    KindRoute,
		Summary: "route: " + Describe(req),
		Reason:  req.Reason,
		Route:   &route,
		Risks:   risks,
		Diff:    diff,
	}
	e, err := b.add(p, m)
	var out Proposal
	if e != nil {
		out = clone(e.p)
	}
	b.mu.Unlock()
	if err != nil {
		return Proposal{}, err
	}
	b.audit(Record{Proposal: out.ID, Kind: KindRoute, Event: "proposed", Host: req.Host, Summary: out.Summary, Notes: Escape(req.Reason), Diff: diffTexts(diff)})
	return out, nil
}

func sameRoute(a, b RouteRequest) bool {
	return a.Host == b.Host && slices.Equal(a.Paths, b.Paths) && slices.Equal(a.Methods, b.Methods)
}

// grantDiff is the authority a grant of m on host adds to cur.
func grantDiff(cur *policy.Policy, host string, m policy.Match) ([]DiffLine, error) {
	next, err := cur.WithGrants([]policy.GrantMatch{{ID: "proposed", Host: host, Match: m}})
	if err != nil {
		return nil, err
	}
	var out []DiffLine
	for _, c := range policy.Diff(cur, next) {
		out = append(out, DiffLine{Op: string(rune(c.Op)), Text: c.Text})
	}
	return out, nil
}

// Wait waits for proposal id to be decided, at most limit.
func (b *Board) Wait(ctx context.Context, id string, limit time.Duration, progress func(time.Duration)) (Proposal, error) {
	b.mu.Lock()
	e := b.find(id)
	b.mu.Unlock()
	if e == nil {
		return Proposal{}, fmt.Errorf("%w %q in this bottle (proposals are per bottle; a decided one is kept a while, then forgotten)", ErrNotFound, id)
	}
	start := time.Now()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-e.done:
		case <-ctx.Done():
			return Proposal{}, ctx.Err()
		case <-deadline.C:
		case <-tick.C:
			if progress != nil {
				progress(time.Since(start))
			}
			continue
		}
		b.mu.Lock()
		p := clone(e.p)
		b.mu.Unlock()
		return p, nil
	}
}

// Routes is list_routes: the routes in force without secrets, and the
// grants.
func (b *Board) Routes() Routes {
	pol := b.cfg.Policy()
	out := Routes{Bottle: b.cfg.Bottle, Routes: []RouteView{}, Grants: []Grant{}}
	for _, rt := range pol.Routes {
		v := RouteView{Host: rt.Host, Matches: rt.Matches}
		if rt.Auth != nil {
			v.Auth = rt.Auth.Form() + " credential injected by the sidecar"
		}
		out.Routes = append(out.Routes, v)
	}
	b.mu.Lock()
	for _, g := range b.grants {
		out.Grants = append(out.Grants, g.Grant)
	}
	b.mu.Unlock()
	return out
}

// RecentBlocks is recent_blocks: the latest refusals, each with the
// request_route arguments that would allow it where a route change could.
func (b *Board) RecentBlocks() []Block {
	out := []Block{}
	if b.cfg.Refusals == nil {
		return out
	}
	for _, r := range b.cfg.Refusals() {
		r.Ask = Suggest(r.Rule, r.Method, r.Host, r.Path)
		out = append(out, r)
	}
	return out
}
