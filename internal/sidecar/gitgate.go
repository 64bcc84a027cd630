package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/pushcheck"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// maxPackBytes caps a pack held in the gate's in-memory quarantine when
// no repository sets a larger max_push_bytes: the sidecar must outlive a
// hostile push.
const maxPackBytes = 64 << 20

// gitGate is the sidecar's git gate, whose repositories a reload
// replaces. A request runs to its end on the server it started on; the
// next one is served by the server of the policy in force.
type gitGate struct {
	dir     string
	cleanup func()
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	det     *lazyDetector
	audit   func(gitgate.Event)
	log     *slog.Logger
	// holder decides pushes refused only for gitleaks:allow findings;
	// nil refuses them.
	holder supervise.Holder

	// mu guards pol, the policy of the server in force, which Prepare
	// reads and its commit writes.
	mu  sync.Mutex
	pol *policy.Policy
	cur atomic.Pointer[gitgate.Server]
}

var _ http.Handler = (*gitGate)(nil)

// newGitGate builds the git gate of pol, with no repository when pol
// declares none. keys holds each repository's SSH key by slot; dir holds
// the mirrors ("" means a fresh temporary folder, removed by Close).
func newGitGate(pol *policy.Policy, keys map[string]secret.Value, dir string, resolve map[string]string, sink egress.AuditSink, holder supervise.Holder, log *slog.Logger) (*gitGate, error) {
	g := &gitGate{dir: dir, cleanup: func() {}, det: &lazyDetector{}, log: log, holder: holder}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bot-bottle-git-")
		if err != nil {
			return nil, fmt.Errorf("creating the git gate's folder: %w", err)
		}
		g.dir, g.cleanup = tmp, func() { _ = os.RemoveAll(tmp) }
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the git gate's folder: %w", err)
	}
	// Upstreams are the operator's own declarations, dialed as written
	// unless pinned, as the proxy pins its hosts.
	d := &net.Dialer{}
	g.dial = egress.PinnedDialer(resolve, d, d.DialContext)
	if sink != nil {
		g.audit = func(e gitgate.Event) {
			decision := e.Decision
			if decision == "refuse" {
				decision = "block"
			}
			sink.Record(egress.Event{
				Time: time.Now(), Method: "GIT-" + strings.ToUpper(e.Op), Host: gitgate.Host,
				Path: "/" + e.Repo + "/" + strings.TrimPrefix(e.Ref, "/"), Decision: decision, Rule: e.Rule, Reason: e.Detail,
			})
		}
	}
	commit, err := g.Prepare(pol, keys)
	if err != nil {
		g.cleanup()
		return nil, err
	}
	commit()
	return g, nil
}

// ServeHTTP serves the request with the repositories in force.
func (g *gitGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.cur.Load().ServeHTTP(w, r)
}

// Reload replaces the gate's repositories with pol's. It changes nothing
// when it fails.
func (g *gitGate) Reload(pol *policy.Policy, keys map[string]secret.Value) error {
	commit, err := g.Prepare(pol, keys)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare builds the server of pol without putting it in force, so that
// a reload can check every part before committing any; commit puts it in
// force.
func (g *gitGate) Prepare(pol *policy.Policy, keys map[string]secret.Value) (commit func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	known := knownSecrets(pol, keys)
	cfg := gitgate.Config{Dir: g.dir, Logger: g.log, MaxPackBytes: maxPackBytes, Audit: g.audit, Holder: g.holder}
	for _, r := range repos(pol) {
		key, ok := keys[r.Key.Slot]
		if !ok {
			return nil, fmt.Errorf("the key of repository %s (%s) was not handed to the sidecar", r.Name, r.Key.Slot)
		}
		up, err := upstream.New(upstream.Config{
			Repo: r.Name, User: r.User, Host: r.Host, Port: r.Port, Path: r.Path,
			HostKey: r.HostKey, Key: key, Dial: g.dial, Timeout: 30 * time.Second,
		})
		if err != nil {
			return nil, fmt.Errorf("repository %s: %w", r.Name, err)
		}
		cfg.MaxPackBytes = max(cfg.MaxPackBytes, r.MaxPushBytes)
		cfg.Repos = append(cfg.Repos, gitgate.Repo{Name: r.Name, Upstream: up, Checker: &lazyChecker{repo: r, det: g.det, known: known, log: g.log}})
	}
	srv, err := g.derive(cfg, pol)
	if err != nil {
		return nil, err
	}
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.pol = pol
		g.cur.Store(srv)
	}, nil
}

// derive builds cfg's server from the one in force, if any, keeping the
// mirrors' state of the repositories whose upstream stays.
//
// Preconditions: g.mu is held.
func (g *gitGate) derive(cfg gitgate.Config, pol *policy.Policy) (*gitgate.Server, error) {
	cur := g.cur.Load()
	if cur == nil {
		return gitgate.New(cfg)
	}
	old := map[string]policy.Repo{}
	for _, r := range repos(g.pol) {
		old[r.Name] = r
	}
	next := map[string]policy.Repo{}
	for _, r := range repos(pol) {
		next[r.Name] = r
	}
	return cur.Next(cfg, func(name string) bool {
		o, n := old[name], next[name]
		return o.URL == n.URL && o.User == n.User && o.Host == n.Host && o.Port == n.Port && o.Path == n.Path
	})
}

// Close removes the mirrors' temporary folder, if the gate made one.
func (g *gitGate) Close() { g.cleanup() }

func repos(pol *policy.Policy) []policy.Repo {
	if pol == nil || pol.GitGate == nil {
		return nil
	}
	return pol.GitGate.Repos
}

// knownSecrets are the values the sidecar holds, which no push may carry
// in any channel: the routes' credentials and the repositories' keys.
func knownSecrets(pol *policy.Policy, keys map[string]secret.Value) []dlp.Secret {
	var out []dlp.Secret
	for _, t := range pol.Tokens {
		if v := keys[t.Slot]; !v.IsZero() {
			out = append(out, dlp.Secret{Slot: t.Slot, Value: v, Hosts: t.Hosts})
		}
	}
	for _, r := range repos(pol) {
		if v := keys[r.Key.Slot]; !v.IsZero() {
			out = append(out, dlp.Secret{Slot: r.Key.Slot, Value: v})
		}
	}
	return out
}

// lazyDetector loads gitleaks' rules on the first push, not at start:
// loading them is most of a sidecar's start time, and most bottles never
// push.
type lazyDetector struct {
	once sync.Once
	det  *pushcheck.Detector
	err  error
}

func (l *lazyDetector) get() (*pushcheck.Detector, error) {
	l.once.Do(func() { l.det, l.err = pushcheck.NewDetector() })
	return l.det, l.err
}

// lazyChecker builds a repository's checker on its first push.
type lazyChecker struct {
	repo  policy.Repo
	det   *lazyDetector
	known []dlp.Secret
	log   *slog.Logger

	once sync.Once
	c    *pushcheck.Checker
	err  error
}

func (l *lazyChecker) Check(ctx context.Context, p *gitgate.Push) ([]gitgate.Rejection, error) {
	if err := l.init(); err != nil {
		return nil, err
	}
	return l.c.Check(ctx, p)
}

var _ gitgate.NameScreener = (*lazyChecker)(nil)

// HoldsSecret implements gitgate.NameScreener; a checker that cannot be
// built withholds every name.
func (l *lazyChecker) HoldsSecret(ctx context.Context, name string) bool {
	return l.init() != nil || l.c.HoldsSecret(ctx, name)
}

func (l *lazyChecker) init() error {
	l.once.Do(func() {
		det, err := l.det.get()
		if err != nil {
			l.err = fmt.Errorf("loading the secret scanner: %w", err)
			return
		}
		l.c, l.err = pushcheck.New(pushcheck.Config{
			Branches: l.repo.Branches, ProtectedPaths: l.repo.ProtectedPaths,
			MaxPushBytes: l.repo.MaxPushBytes, Detector: det, KnownSecrets: l.known, Logger: l.log,
		})
	})
	return l.err
}

// withGitGate sends the agent's requests for the gate's host to the gate
// and everything else to the proxy. The gate is reached through the proxy
// so that every backend needs one port and one relay, and a git client
// that honours http_proxy finds it with no more wiring than a URL.
func withGitGate(proxy, gate http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && r.URL.IsAbs() && strings.EqualFold(r.URL.Hostname(), gitgate.Host) {
			gate.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}
