package mcpsrv

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// fakeAgent is a supervise.Agent whose proposals tests decide.
type fakeAgent struct {
	routes supervise.Routes
	blocks []supervise.Block
	// reqErr, when set, is RequestRoute's error.
	reqErr error

	mu       sync.Mutex
	requests []supervise.RouteRequest
	props    map[string]supervise.Proposal
	decided  map[string]chan struct{}
	// waiting receives the id of each Wait that starts; waitEnded the
	// error (ctx's or nil) each Wait ends with.
	waiting   chan string
	waitEnded chan error
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{
		props:     map[string]supervise.Proposal{},
		decided:   map[string]chan struct{}{},
		waiting:   make(chan string, 16),
		waitEnded: make(chan error, 16),
	}
}

func (f *fakeAgent) RequestRoute(_ context.Context, req supervise.RouteRequest) (supervise.Proposal, error) {
	if f.reqErr != nil {
		return supervise.Proposal{}, f.reqErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	id := "p" + string(rune('0'+len(f.requests)))
	r := req
	r.Reason = ""
	p := supervise.Proposal{ID: id, Kind: supervise.KindRoute, Status: supervise.StatusPending, Reason: req.Reason, Route: &r}
	f.props[id] = p
	f.decided[id] = make(chan struct{})
	return p, nil
}

// decide decides proposal id with status s and decision d.
func (f *fakeAgent) decide(id string, s supervise.Status, d supervise.Decision, route *supervise.RouteRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.props[id]
	p.Status = s
	d.Status = s
	p.Decision = &d
	if route != nil {
		p.Route = route
	}
	f.props[id] = p
	close(f.decided[id])
}

func (f *fakeAgent) Wait(ctx context.Context, id string, limit time.Duration, _ func(time.Duration)) (supervise.Proposal, error) {
	f.mu.Lock()
	ch, ok := f.decided[id]
	f.mu.Unlock()
	if !ok {
		return supervise.Proposal{}, errors.New("no proposal " + id + " in this bottle: pass an id request_route returned")
	}
	f.waiting <- id
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-ch:
		f.waitEnded <- nil
	case <-t.C:
		f.waitEnded <- nil
	case <-ctx.Done():
		f.waitEnded <- ctx.Err()
		return supervise.Proposal{}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.props[id], nil
}

func (f *fakeAgent) Routes() supervise.Routes { return f.routes }

func (f *fakeAgent) RecentBlocks() []supervise.Block { return f.blocks }
