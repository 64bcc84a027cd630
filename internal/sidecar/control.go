package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/sidecar/contract"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// controlService is the sidecar's side of the host's control channel.
type controlService struct {
	bottle   string
	since    time.Time
	current  *atomic.Pointer[policy.Policy]
	apply    func(*policy.Policy, map[string]secret.Value) error
	hub      *control.Hub
	services func() map[string]string
	board    *supervise.Board

	// mu serialises replacements; it guards gen and secrets.
	mu      sync.Mutex
	gen     int
	secrets map[string]secret.Value
}

func newControlService(bottle string, secrets map[string]secret.Value, current *atomic.Pointer[policy.Policy], apply func(*policy.Policy, map[string]secret.Value) error, hub *control.Hub) *controlService {
	return &controlService{bottle: bottle, since: time.Now().UTC(), current: current, apply: apply, hub: hub, secrets: secrets}
}

func (s *controlService) Health() control.Health {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	h := control.Health{Bottle: s.bottle, Generation: gen, Since: s.since}
	if s.services != nil {
		h.Services = s.services()
	}
	return h
}

func (s *controlService) Policy() *policy.Policy { return s.current.Load() }

// Replace puts pol in force. A slot the replacement does not hand keeps
// the secret the sidecar holds for the same credential: a token of the
// same host variable, the key of the same repository. Slots are numbered
// per policy, so a secret never follows a slot name across policies. A
// slot of neither fails the whole replacement, which then changes nothing.
func (s *controlService) Replace(pol *policy.Policy, given map[string]secret.Value) (control.Applied, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pol.Bottle != s.bottle {
		return control.Applied{}, fmt.Errorf("the policy is bottle %q's, this sidecar serves %q", pol.Bottle, s.bottle)
	}
	held := map[string]secret.Value{}
	for _, sl := range slotsByIdentity(s.current.Load()) {
		if v, ok := s.secrets[sl.slot]; ok {
			held[sl.id] = v
		}
	}
	secrets := map[string]secret.Value{}
	for _, sl := range slotsByIdentity(pol) {
		if v, ok := given[sl.slot]; ok && !v.IsZero() {
			secrets[sl.slot] = v
		} else if v, ok := held[sl.id]; ok {
			secrets[sl.slot] = v
		}
	}
	if err := contract.CheckSlots(pol, secrets); err != nil {
		return control.Applied{}, err
	}
	if err := s.apply(pol, secrets); err != nil {
		return control.Applied{}, err
	}
	s.secrets = secrets
	s.gen++
	a := control.Applied{Generation: s.gen, Routes: len(pol.Routes)}
	if pol.GitGate != nil {
		a.Repos = len(pol.GitGate.Repos)
	}
	return a, nil
}

type slotID struct{ slot, id string }

// slotsByIdentity names each slot of pol by the credential it holds.
func slotsByIdentity(pol *policy.Policy) []slotID {
	var out []slotID
	for _, t := range pol.Tokens {
		out = append(out, slotID{t.Slot, "token\x00" + t.Env})
	}
	if pol.GitGate != nil {
		for _, r := range pol.GitGate.Repos {
			out = append(out, slotID{r.Key.Slot, "key\x00" + r.Key.Provider + "\x00" + r.Name + "\x00" + r.URL})
		}
	}
	return out
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

func (s *controlService) Events(ctx context.Context, tail int, follow bool, fn func(control.Event) error) error {
	return s.hub.Events(ctx, tail, follow, fn)
}

// ErrControlAddr reports a control address that is neither loopback nor a
// Unix socket.
var ErrControlAddr = errors.New("the control address must be loopback (127.0.0.1:PORT) or unix:PATH")

// controlListener listens on addr for the control channel; the func
// returned closes its socket. A TCP address must be loopback: inside a
// Docker sidecar that is its own network namespace, which the agent's is
// not.
func controlListener(addr string, token secret.Value, svc control.Service, log *slog.Logger) (service, func(), error) {
	if token.IsZero() {
		return service{}, nil, errors.New("the control channel needs a token")
	}
	if !strings.HasPrefix(addr, "unix:") {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return service{}, nil, ErrControlAddr
		}
	}
	ln, err := listen(addr)
	if err != nil {
		return service{}, nil, fmt.Errorf("control channel: %w", err)
	}
	held := hold(ln)
	srv := &http.Server{Handler: control.Handler(token, svc), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	return httpService("control", srv, held, 0), func() { _ = held.Close() }, nil
}
