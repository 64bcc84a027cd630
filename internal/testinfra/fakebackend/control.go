package fakebackend

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// DialControl implements backend.Backend: a real control handler serves
// the other end of an in-memory pipe.
func (b *Backend) DialControl(ctx context.Context, slug string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bt := b.lookup(slug)
	if bt == nil || !bt.sidecarUp() {
		return nil, fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
	}
	client, server := net.Pipe()
	go func() {
		// A server closed meanwhile accepts nothing: end the pipe.
		if err := bt.server.Serve(newOneConn(server)); errors.Is(err, http.ErrServerClosed) {
			_ = server.Close()
		}
	}()
	return client, nil
}

// newServer returns the control server of bt's sidecar.
func newServer(spec *backend.Spec, bt *bottle) *http.Server {
	return &http.Server{Handler: control.Handler(spec.ControlToken, bt.control), ReadHeaderTimeout: 10 * time.Second}
}

// controlService is the fake sidecar's side of the control channel.
type controlService struct {
	bottle string
	since  time.Time

	// board holds the bottle's supervise proposals and grants, as a real
	// sidecar's does; nil without a policy.
	board *supervise.Board

	// mu guards the fields below.
	mu sync.Mutex
	// base is the policy of start or of the last replacement; current is
	// base with the board's grants.
	base    *policy.Policy
	current *policy.Policy
	gen     int
	secrets map[string]secret.Value
}

// newControlService reads spec's policy and upstream CA, which a real
// sidecar would refuse to start without.
func newControlService(spec *backend.Spec) (*controlService, error) {
	s := &controlService{bottle: spec.Agent, since: time.Now().UTC(), secrets: spec.Secrets}
	if spec.UpstreamCA != "" {
		data, err := os.ReadFile(spec.UpstreamCA)
		if err != nil {
			return nil, fmt.Errorf("the sidecar could not start: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return nil, errors.New("the sidecar could not start: the upstream CA holds no PEM certificate")
		}
	}
	if spec.PolicyFile == "" {
		return s, nil
	}
	data, err := os.ReadFile(spec.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("the sidecar could not start: %w", err)
	}
	pol, err := policy.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("the sidecar could not start: %w", err)
	}
	s.base, s.current, s.bottle = pol, pol, pol.Bottle
	s.board = supervise.NewBoard(supervise.BoardConfig{Bottle: pol.Bottle, Policy: s.Policy, Reapply: s.reapply})
	return s, nil
}

// reapply puts the board's grants over the base policy.
func (s *controlService) reapply() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compose()
}

// compose sets current from base and the grants; s.mu is held.
func (s *controlService) compose() error {
	if s.board == nil || s.base == nil {
		s.current = s.base
		return nil
	}
	eff, err := s.base.WithGrants(s.board.Grants())
	if err != nil {
		return err
	}
	s.current = eff
	return nil
}

func (s *controlService) Proposals() []supervise.Proposal {
	if s.board == nil {
		return []supervise.Proposal{}
	}
	return s.board.Proposals()
}

func (s *controlService) Decide(id string, v supervise.Verdict) (supervise.Proposal, error) {
	if s.board == nil {
		return supervise.Proposal{}, fmt.Errorf("%w %s", supervise.ErrNotFound, id)
	}
	return s.board.Decide(id, v)
}

func (s *controlService) Health() control.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return control.Health{
		Bottle:     s.bottle,
		Services:   map[string]string{"egress": "up", "dns": "up", "gitgate": "up"},
		Generation: s.gen,
		Since:      s.since,
	}
}

func (s *controlService) Policy() *policy.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

func (s *controlService) Replace(pol *policy.Policy, secrets map[string]secret.Value) (control.Applied, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pol.Bottle != s.bottle {
		return control.Applied{}, fmt.Errorf("the policy is bottle %q's, this sidecar serves %q", pol.Bottle, s.bottle)
	}
	merged := maps.Clone(s.secrets)
	if merged == nil {
		merged = map[string]secret.Value{}
	}
	maps.Copy(merged, secrets)
	prev := s.base
	s.base, s.secrets = pol, merged
	if err := s.compose(); err != nil {
		s.base = prev
		return control.Applied{}, err
	}
	s.gen++
	a := control.Applied{Generation: s.gen, Routes: len(pol.Routes)}
	if pol.GitGate != nil {
		a.Repos = len(pol.GitGate.Repos)
	}
	return a, nil
}

// Events has no events; a follow blocks until the request ends, which
// Stop and BreakSidecar bring about by closing the server.
func (s *controlService) Events(ctx context.Context, _ int, follow bool, _ func(control.Event) error) error {
	if !follow {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// oneConn is a listener that accepts one connection, then reports itself
// closed once that connection is, so that the server's Serve returns.
type oneConn struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newOneConn(c net.Conn) *oneConn {
	l := &oneConn{conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	l.conns <- &notifyConn{Conn: c, l: l}
	return l
}

func (l *oneConn) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConn) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConn) Addr() net.Addr { return pipeAddr{} }

// notifyConn closes its listener when it closes.
type notifyConn struct {
	net.Conn
	l *oneConn
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	_ = c.l.Close()
	return err
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
