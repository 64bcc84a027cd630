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
	"time"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/pushcheck"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// maxPackBytes caps a pack held in the gate's in-memory quarantine when
// no repository sets a larger max_push_bytes: the sidecar must outlive a
// hostile push.
const maxPackBytes = 64 << 20

// gitGate builds the git gate of pol, or returns nil when pol declares no
// repository. keys holds each repository's SSH key by slot; dir holds the
// mirrors ("" means a fresh temporary folder, removed by the returned
// cleanup).
func gitGate(pol *policy.Policy, keys map[string]secret.Value, dir string, resolve map[string]string, sink egress.AuditSink, log *slog.Logger) (http.Handler, func(), error) {
	if pol.GitGate == nil || len(pol.GitGate.Repos) == 0 {
		return nil, func() {}, nil
	}
	cleanup := func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bot-bottle-git-")
		if err != nil {
			return nil, nil, fmt.Errorf("creating the git gate's folder: %w", err)
		}
		dir, cleanup = tmp, func() { _ = os.RemoveAll(tmp) }
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating the git gate's folder: %w", err)
	}
	// Upstreams are the operator's own declarations, dialed as written
	// unless pinned, as the proxy pins its hosts.
	d := &net.Dialer{}
	dial := egress.PinnedDialer(resolve, d, d.DialContext)
	det := &lazyDetector{}
	known := knownSecrets(pol, keys)
	cfg := gitgate.Config{Dir: dir, Logger: log, MaxPackBytes: maxPackBytes}
	for _, r := range pol.GitGate.Repos {
		key, ok := keys[r.Key.Slot]
		if !ok {
			cleanup()
			return nil, nil, fmt.Errorf("the key of repository %s (%s) was not handed to the sidecar", r.Name, r.Key.Slot)
		}
		up, err := upstream.New(upstream.Config{
			Repo: r.Name, User: r.User, Host: r.Host, Port: r.Port, Path: r.Path,
			HostKey: r.HostKey, Key: key, Dial: dial, Timeout: 30 * time.Second,
		})
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("repository %s: %w", r.Name, err)
		}
		cfg.MaxPackBytes = max(cfg.MaxPackBytes, r.MaxPushBytes)
		cfg.Repos = append(cfg.Repos, gitgate.Repo{Name: r.Name, Upstream: up, Checker: &lazyChecker{repo: r, det: det, known: known, log: log}})
	}
	if sink != nil {
		cfg.Audit = func(e gitgate.Event) {
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
	srv, err := gitgate.New(cfg)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return srv, cleanup, nil
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
	for _, r := range pol.GitGate.Repos {
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
	if gate == nil {
		return proxy
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && r.URL.IsAbs() && strings.EqualFold(r.URL.Hostname(), gitgate.Host) {
			gate.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}
