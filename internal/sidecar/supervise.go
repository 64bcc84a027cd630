package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bot-bottle/bot-bottle/internal/egress"
)

// service is one of the sidecar's servers.
type service struct {
	name string
	// serve serves until ctx ends, when it returns nil, or until it
	// fails. The supervisor calls it again to restart it, so the sockets
	// it serves on must outlive one call (see hold).
	serve func(ctx context.Context) error
}

// supervisor runs the sidecar's services. A service that stops or panics
// is restarted after a growing delay; one that stopped more than
// maxRestarts times within window ends every service, and run returns its
// error: the sidecar then exits, and the bottle with it.
//
// Security: the supervisor fails closed. A bottle never keeps running with
// a sidecar that lost its proxy, resolver or control channel for good.
type supervisor struct {
	maxRestarts int
	window      time.Duration
	// backoff is the first restart's delay, doubled for each further
	// stop within window, up to maxBackoff.
	backoff, maxBackoff time.Duration
	log                 *slog.Logger
	// audit, when set, records each restart and the give-up.
	audit egress.AuditSink

	// mu guards state, each service's "up" or "restarting".
	mu    sync.Mutex
	state map[string]string
}

// newSupervisor returns a supervisor with the sidecar's limits: five
// restarts a minute, the first after 100ms.
func newSupervisor(log *slog.Logger, audit egress.AuditSink) *supervisor {
	return &supervisor{maxRestarts: 5, window: time.Minute, backoff: 100 * time.Millisecond, maxBackoff: 5 * time.Second, log: log, audit: audit}
}

// run serves svcs until ctx ends, when it returns nil once every service
// returned, or until one of them fails for good.
func (s *supervisor) run(ctx context.Context, svcs ...service) error {
	s.mu.Lock()
	s.state = map[string]string{}
	for _, svc := range svcs {
		s.state[svc.name] = "up"
	}
	s.mu.Unlock()
	g, ctx := errgroup.WithContext(ctx)
	for _, svc := range svcs {
		g.Go(func() error { return s.keep(ctx, svc) })
	}
	return g.Wait()
}

// status returns each service's state.
func (s *supervisor) status() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.state)
}

// keep serves svc until ctx ends, restarting it each time it stops.
func (s *supervisor) keep(ctx context.Context, svc service) error {
	var stops []time.Time
	for {
		err := s.serveOnce(ctx, svc)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("returned while serving")
		}
		now := time.Now()
		stops = append(recent(stops, now.Add(-s.window)), now)
		if len(stops) > s.maxRestarts {
			s.record(svc.name, "fail", err)
			s.log.Error("sidecar service failed for good; stopping the sidecar", "service", svc.name, "stops", len(stops), "err", err)
			return fmt.Errorf("sidecar service %s stopped %d times within %s, last: %w", svc.name, len(stops), s.window, err)
		}
		delay := min(s.backoff<<(len(stops)-1), s.maxBackoff)
		s.record(svc.name, "restart", err)
		s.log.Warn("sidecar service stopped; restarting it", "service", svc.name, "stops", len(stops), "delay", delay, "err", err)
		s.setState(svc.name, "restarting")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		s.setState(svc.name, "up")
	}
}

// serveOnce calls svc.serve, turning a panic into an error.
func (s *supervisor) serveOnce(ctx context.Context, svc service) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("sidecar service panicked", "service", svc.name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return svc.serve(ctx)
}

func (s *supervisor) setState(name, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state[name] = state
}

// record writes a restart or the give-up to the audit log.
func (s *supervisor) record(name, decision string, err error) {
	if s.audit == nil {
		return
	}
	s.audit.Record(egress.Event{Time: time.Now(), Method: "SERVICE", Host: name, Decision: decision, Rule: "service-stopped", Reason: err.Error()})
}

// recent returns the times of ts after since; ts is in order.
func recent(ts []time.Time, since time.Time) []time.Time {
	for len(ts) > 0 && !ts[0].After(since) {
		ts = ts[1:]
	}
	return ts
}
