package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// Operator returns the operator's view of every running bottle's
// supervise proposals, over each bottle's control channel.
func (m *Manager) Operator() supervise.Operator { return &operator{m: m, where: map[string]string{}} }

type operator struct {
	m *Manager
	// mu guards where, the bottle of each proposal List has seen.
	mu    sync.Mutex
	where map[string]string
}

// running is one running bottle and its control client.
type running struct {
	slug string
	c    *control.Client
}

func (o *operator) bottles(ctx context.Context) ([]running, []error) {
	all, errs := o.m.Active(ctx)
	var out []running
	for _, b := range all {
		if b.State != backend.StateRunning {
			continue
		}
		be, err := o.m.Backend(b.Backend)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		token, err := launch.ControlToken(o.m.Home, b.Slug)
		if err != nil {
			errs = append(errs, fmt.Errorf("bottle %s: %w", b.Slug, err))
			continue
		}
		slug := b.Slug
		out = append(out, running{slug: slug, c: control.NewClient(func(ctx context.Context) (net.Conn, error) { return be.DialControl(ctx, slug) }, token)})
	}
	return out, errs
}

// List returns the proposals of every running bottle, oldest first. A
// proposal's Bottle is the bottle's slug, as `list active` shows it. A
// bottle that cannot be reached is an error; the others are listed.
func (o *operator) List(ctx context.Context) ([]supervise.Proposal, error) {
	bs, errs := o.bottles(ctx)
	var all []supervise.Proposal
	for _, b := range bs {
		ps, err := b.c.Proposals(ctx)
		b.c.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("bottle %s: %w", b.slug, err))
			continue
		}
		o.mu.Lock()
		for i := range ps {
			ps[i].Bottle = b.slug
			o.where[ps[i].ID] = b.slug
		}
		o.mu.Unlock()
		all = append(all, ps...)
	}
	slices.SortStableFunc(all, func(a, b supervise.Proposal) int { return a.Created.Compare(b.Created) })
	return all, errors.Join(errs...)
}

// Decide finds the bottle that holds id and decides it there.
func (o *operator) Decide(ctx context.Context, id string, v supervise.Verdict) (supervise.Proposal, error) {
	id = strings.TrimSpace(id)
	bs, errs := o.bottles(ctx)
	defer func() {
		for _, b := range bs {
			b.c.Close()
		}
	}()
	o.mu.Lock()
	known := o.where[id]
	o.mu.Unlock()
	// The bottle List saw it in first, then every other.
	slices.SortStableFunc(bs, func(a, b running) int {
		switch {
		case a.slug == known && b.slug != known:
			return -1
		case b.slug == known && a.slug != known:
			return 1
		}
		return 0
	})
	for _, b := range bs {
		p, err := b.c.Decide(ctx, id, v)
		if errors.Is(err, supervise.ErrNotFound) {
			continue
		}
		if err != nil {
			return supervise.Proposal{}, fmt.Errorf("bottle %s: %w", b.slug, err)
		}
		p.Bottle = b.slug
		return p, nil
	}
	if err := errors.Join(errs...); err != nil {
		return supervise.Proposal{}, fmt.Errorf("%w %s in a bottle that answered (%w); run bot-bottle supervise list", supervise.ErrNotFound, id, err)
	}
	return supervise.Proposal{}, fmt.Errorf("%w %s in any running bottle; run bot-bottle supervise list", supervise.ErrNotFound, id)
}
