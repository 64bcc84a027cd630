// Package sidecar runs a bottle's sidecar services: the egress proxy,
// the DNS resolver and the git gate (supervise joins them). It holds the
// compiled policy and the secrets, never a manifest, and it fails closed:
// if a service stops, Run returns and the bottle loses its only way out.
package sidecar

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	// Mozilla's roots, used only where the system has none: the sidecar
	// image holds nothing but the binary.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/bot-bottle/bot-bottle/internal/audit"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Loader returns the policy to enforce and the secret of each of its
// slots. It is called at start and on every reload.
type Loader func() (*policy.Policy, map[string]secret.Value, error)

// Config configures Run.
type Config struct {
	// Listen is the egress proxy's address, e.g. ":9099".
	Listen string
	// CADir holds the interception CA; it is created on first use.
	CADir string
	// Audit, when set, is the hash-chained audit log file.
	Audit string
	// UpstreamCA, when set, is a PEM file trusted for upstream TLS besides
	// the system roots.
	UpstreamCA string
	// Resolve pins hosts to addresses.
	Resolve map[string]string
	// Admin, when set, is a loopback address serving POST /reload.
	Admin string
	// DNS, when set, is the address (UDP and TCP) of the bottle's
	// resolver, which answers the policy's hosts only.
	DNS string
	// GitDir holds the git gate's mirrors; empty means a temporary folder
	// removed when Run returns.
	GitDir string
	Load   Loader
	// Ready is called once the proxy listens.
	Ready func(addr net.Addr, ca *egress.CA, pol *policy.Policy)
	// Reloaded is called after each reload attempt.
	Reloaded func(pol *policy.Policy, err error)
	Log      *slog.Logger
}

// Run serves until ctx ends or a service fails.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pol, secrets, err := cfg.Load()
	if err != nil {
		return err
	}
	egress.WarmFor(pol)
	roots, err := upstreamRoots(cfg.UpstreamCA)
	if err != nil {
		return err
	}
	ca, err := egress.LoadOrCreateCA(cfg.CADir, pol.Bottle)
	if err != nil {
		return fmt.Errorf("loading the CA in %s: %w", cfg.CADir, err)
	}
	ecfg := egress.Config{Policy: pol, CA: ca, Secrets: secrets, Resolve: cfg.Resolve, LoadUpstreamRoots: roots, Log: log}
	if cfg.Audit != "" {
		w, err := audit.Open(cfg.Audit)
		if err != nil {
			return err
		}
		defer func() { _ = w.Close() }()
		ecfg.Audit = &egress.AuditLog{W: w, Bottle: pol.Bottle, Log: log}
	}
	var current atomic.Pointer[policy.Policy]
	current.Store(pol)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	proxy, err := egress.New(ecfg)
	if err != nil {
		return err
	}
	defer func() { _ = proxy.Close() }()
	// Security: what the DNS and git gates log may carry a secret the
	// agent sent (a query name, a ref name); their log is redacted too.
	log = slog.New(egress.RedactingHandler(log.Handler(), proxy.Redact))
	var dnsErr <-chan error
	if cfg.DNS != "" {
		if dnsErr, err = serveDNS(ctx, cfg.DNS, &current, ecfg.Audit, log); err != nil {
			return err
		}
	}
	ln, err := listen(cfg.Listen)
	if err != nil {
		return err
	}
	gate, err := newGitGate(pol, secrets, cfg.GitDir, cfg.Resolve, ecfg.Audit, log)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("starting the git gate: %w", err)
	}
	defer gate.Close()
	srv := &http.Server{Handler: withGitGate(proxy, gate), ReadHeaderTimeout: 30 * time.Second}

	reload := func() error {
		pol, secrets, err := cfg.Load()
		var commitGate func()
		if err == nil {
			// The gate is built first and put in force last, so that
			// a reload it refuses leaves egress on the old policy too.
			commitGate, err = gate.Prepare(pol, secrets)
		}
		if err == nil {
			err = proxy.Reload(pol, secrets)
		}
		if err == nil {
			commitGate()
			current.Store(pol)
		}
		if cfg.Reloaded != nil {
			cfg.Reloaded(pol, err)
		}
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			_ = reload()
		}
	}()
	if cfg.Admin != "" {
		admin, err := adminServer(cfg.Admin, reload)
		if err != nil {
			_ = ln.Close()
			return err
		}
		defer func() { _ = admin.Close() }()
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr(), ca, pol)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("egress proxy stopped: %w", err)
	case err := <-dnsErr:
		_ = srv.Close()
		return fmt.Errorf("dns resolver stopped: %w", err)
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return nil
	}
}

// listen listens on a TCP address, or on a Unix socket for "unix:PATH"
// (the native backend's bottles reach the proxy through one). The socket
// is its owner's alone.
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", addr, err)
		}
		return ln, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing a stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	return ln, nil
}

// upstreamRoots checks the extra upstream CA now, so that a bad file stops
// the sidecar before it serves, and returns the loader of the whole pool:
// the system roots and that CA. Reading the system's store is the slowest
// part of starting, so the proxy calls the loader on its first upstream
// connection, and a goroutine starts it right away.
func upstreamRoots(extra string) (func() *x509.CertPool, error) {
	var extraPEM []byte
	if extra != "" {
		var err error
		if extraPEM, err = os.ReadFile(extra); err != nil {
			return nil, fmt.Errorf("reading the upstream CA: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(extraPEM) {
			return nil, fmt.Errorf("upstream CA %s holds no PEM certificate", extra)
		}
	}
	load := sync.OnceValue(func() *x509.CertPool {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		roots.AppendCertsFromPEM(extraPEM)
		return roots
	})
	go load()
	return load, nil
}

// ErrAdminAddr reports an admin address that is not loopback.
var ErrAdminAddr = errors.New("the admin address must be loopback, such as 127.0.0.1:9199")

// adminServer serves the operator API on a loopback address.
func adminServer(addr string, reload func() error) (*http.Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, ErrAdminAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := reload(); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		_, _ = w.Write([]byte("reloaded\n"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// PolicyFileLoader loads a compiled policy file and takes each slot's
// secret from the environment variable named after the slot.
func PolicyFileLoader(path string, lookupEnv func(string) (string, bool)) Loader {
	return func() (*policy.Policy, map[string]secret.Value, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the policy: %w", err)
		}
		pol, err := policy.Parse(data)
		if err != nil {
			return nil, nil, err
		}
		secrets := map[string]secret.Value{}
		for _, t := range pol.Tokens {
			v, ok := lookupEnv(t.Slot)
			if !ok || v == "" {
				return nil, nil, fmt.Errorf("the secret for %s (host variable %s) was not handed to the sidecar", t.Slot, t.Env)
			}
			secrets[t.Slot] = secret.New(v)
		}
		if pol.GitGate != nil {
			for _, r := range pol.GitGate.Repos {
				v, ok := lookupEnv(r.Key.Slot)
				if !ok || v == "" {
					return nil, nil, fmt.Errorf("the key of repository %s (%s) was not handed to the sidecar", r.Name, r.Key.Slot)
				}
				secrets[r.Key.Slot] = secret.New(v)
			}
		}
		return pol, secrets, nil
	}
}
