// Package sidecar runs a bottle's sidecar services: the egress proxy,
// the DNS resolver, the git gate and the control channel, under one
// supervisor. It holds the compiled policy and the secrets, never a
// manifest, and it fails closed: a service that keeps stopping ends Run,
// and the bottle loses its only way out.
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
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
	"github.com/bot-bottle/bot-bottle/internal/supervise/mcpsrv"
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
	// CA, when set, is the interception CA, and CADir is not read.
	CA *egress.CA
	// UpstreamCA, when set, is a PEM file trusted for upstream TLS besides
	// the system roots; UpstreamCAPEM is the same as bytes.
	UpstreamCA    string
	UpstreamCAPEM []byte
	// Resolve pins hosts to addresses.
	Resolve map[string]string
	// Admin, when set, is a loopback address serving POST /reload
	// (egress serve: the operator's own proxy on this host).
	Admin string
	// Control, when set, is the host's control channel to a bottle's
	// sidecar: a loopback address or "unix:PATH", serving the control
	// package's API to requests carrying ControlToken.
	Control      string
	ControlToken secret.Value
	// DNS, when set, is the address (UDP and TCP) of the bottle's
	// resolver, which answers the policy's hosts only.
	DNS string
	// GitDir holds the git gate's mirrors; empty means a temporary folder
	// removed when Run returns.
	GitDir string
	// SuperviseTimeout is how long a proposal waits for the operator;
	// zero is supervise.DefaultTimeout.
	SuperviseTimeout time.Duration
	Load             Loader
	// Ready is called once the proxy listens.
	Ready func(addr net.Addr, ca *egress.CA, pol *policy.Policy)
	// Reloaded is called after each reload attempt.
	Reloaded func(pol *policy.Policy, err error)
	Log      *slog.Logger
}

// quietFlushEvery is how often the counts of quiet hosts' refusals are
// written to the audit log.
const quietFlushEvery = 30 * time.Second

// Run serves until ctx ends or a service fails for good. A service that
// stops is restarted on the same socket (see supervisor).
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
	roots, err := upstreamRoots(cfg.UpstreamCA, cfg.UpstreamCAPEM)
	if err != nil {
		return err
	}
	ca := cfg.CA
	if ca == nil {
		if ca, err = egress.LoadOrCreateCA(cfg.CADir, pol.Bottle); err != nil {
			return fmt.Errorf("loading the CA in %s: %w", cfg.CADir, err)
		}
	}
	// The board of the operator's proposals and grants; the proxy counts
	// grant uses on it, and it reads the proxy's refusals.
	var board *supervise.Board
	ecfg := egress.Config{
		Policy: pol, CA: ca, Secrets: secrets, Resolve: cfg.Resolve, LoadUpstreamRoots: roots, Log: log,
		GrantUse: func(id string) bool { return board != nil && board.Use(id) },
		AskHint:  cfg.Control != "",
	}
	// A bottle's sidecar holds supervise routes' DLP matches for the
	// operator; without the control channel nobody could decide.
	if cfg.Control != "" {
		ecfg.Supervisor = dlpHolder{board: func() *supervise.Board { return board }}
	}
	hub := &control.Hub{}
	if cfg.Audit != "" || cfg.Control != "" {
		al := &egress.AuditLog{Bottle: pol.Bottle, Log: log, Tap: func(ev egress.Event) {
			hub.Publish(ev)
			if board != nil && ev.Decision == "block" {
				board.NoteRefusal(ev.Rule, ev.Host)
			}
		}}
		if cfg.Audit != "" {
			w, err := audit.Open(cfg.Audit)
			if err != nil {
				return err
			}
			defer func() { _ = w.Close() }()
			al.W = w
		}
		ecfg.Audit = al
	}
	var current atomic.Pointer[policy.Policy]
	current.Store(pol)
	proxy, err := egress.New(ecfg)
	if err != nil {
		return err
	}
	defer func() { _ = proxy.Close() }()
	// The counted refusals of quiet hosts reach the audit log every
	// quietFlushEvery and as the sidecar stops (a killed sidecar's last
	// counts are lost: they are the agent CLI's own calls, refused).
	defer proxy.FlushQuiet()
	quietCtx, stopQuiet := context.WithCancel(ctx)
	defer stopQuiet()
	go func() {
		t := time.NewTicker(quietFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-quietCtx.Done():
				return
			case <-t.C:
				proxy.FlushQuiet()
			}
		}
	}()
	// Security: what the DNS and git gates log may carry a secret the
	// agent sent (a query name, a ref name); their log is redacted too.
	log = slog.New(egress.RedactingHandler(log.Handler(), proxy.Redact))
	var svcs []service
	if cfg.DNS != "" {
		dns, closeDNS, err := dnsService(cfg.DNS, &current, ecfg.Audit, log)
		if err != nil {
			return err
		}
		defer closeDNS()
		svcs = append(svcs, dns)
	}
	ln, err := listen(cfg.Listen)
	if err != nil {
		return err
	}
	egressLn := hold(ln)
	defer func() { _ = egressLn.Close() }()
	// Pushes refused only for gitleaks:allow findings wait for the
	// operator in a bottle's sidecar.
	var pushHolder supervise.Holder
	if cfg.Control != "" {
		pushHolder = boardHolder{board: func() *supervise.Board { return board }}
	}
	gate, err := newGitGate(pol, secrets, cfg.GitDir, cfg.Resolve, ecfg.Audit, pushHolder, log)
	if err != nil {
		return fmt.Errorf("starting the git gate: %w", err)
	}
	defer gate.Close()

	// apply puts a policy in force in every service, or in none: the git
	// gate is built first and put in force last, so that a policy it
	// refuses leaves egress and DNS on the old one too.
	put := func(pol *policy.Policy, secrets map[string]secret.Value) error {
		commitGate, err := gate.Prepare(pol, secrets)
		if err != nil {
			return err
		}
		if err := proxy.Reload(pol, secrets); err != nil {
			return err
		}
		commitGate()
		current.Store(pol)
		return nil
	}
	enf := &enforcer{put: put, base: pol, secrets: secrets}
	board = newBoard(pol.Bottle, cfg.SuperviseTimeout, current.Load, enf, proxy, cfg.Resolve, ecfg.Audit)
	enf.grants = board.Grants
	boardCtx, stopBoard := context.WithCancel(ctx)
	defer stopBoard()
	go board.Run(boardCtx)
	apply := enf.set
	// The agent's side of supervise is served on the proxy port, at
	// /mcp, beside the introspection endpoints.
	agentMCP := mcpsrv.Handler(board, mcpsrv.Options{Log: log})
	srv := &http.Server{Handler: withMCP(withGitGate(proxy, gate), agentMCP), ReadHeaderTimeout: 30 * time.Second}
	svcs = append(svcs, httpService("egress", srv, egressLn, 5*time.Second))
	reload := func() error {
		pol, secrets, err := cfg.Load()
		if err == nil {
			err = apply(pol, secrets)
		}
		if cfg.Reloaded != nil {
			cfg.Reloaded(pol, err)
		}
		return err
	}
	// A bottle's sidecar takes a new policy over its control channel
	// only: its loader holds the launch policy, which SIGHUP would put
	// back over a live replacement. It ignores the signal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if cfg.Control == "" {
				_ = reload()
			}
		}
	}()
	sup := newSupervisor(log, ecfg.Audit)
	if cfg.Admin != "" {
		admin, closeAdmin, err := adminService(cfg.Admin, reload)
		if err != nil {
			return err
		}
		defer closeAdmin()
		svcs = append(svcs, admin)
	}
	if cfg.Control != "" {
		csvc := newControlService(pol.Bottle, secrets, &current, apply, hub)
		csvc.board = board
		csvc.services = func() map[string]string {
			// The gate serves whatever repositories the policy holds,
			// none included, behind the proxy.
			st := sup.status()
			m := map[string]string{"egress": st["egress"], "gitgate": st["egress"], "dns": "off"}
			if cfg.DNS != "" {
				m["dns"] = st["dns"]
			}
			return m
		}
		ctl, closeControl, err := controlListener(cfg.Control, cfg.ControlToken, csvc, log)
		if err != nil {
			return err
		}
		defer closeControl()
		svcs = append(svcs, ctl)
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr(), ca, pol)
	}
	// The system's roots (the bundle and every file of /etc/ssl/certs)
	// load once the bottle can start, not while it waits for us: its
	// first upstream connection is later.
	go roots()
	return sup.run(ctx, svcs...)
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
func upstreamRoots(extra string, extraPEM []byte) (func() *x509.CertPool, error) {
	if len(extraPEM) > 0 && !x509.NewCertPool().AppendCertsFromPEM(extraPEM) {
		return nil, errors.New("the upstream CA holds no PEM certificate")
	}
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
	return load, nil
}

// ErrAdminAddr reports an admin address that is not loopback.
var ErrAdminAddr = errors.New("the admin address must be loopback, such as 127.0.0.1:9199")

// adminService serves the operator API on a loopback address. The func
// returned closes its socket.
func adminService(addr string, reload func() error) (service, func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return service{}, nil, ErrAdminAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return service{}, nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := reload(); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		_, _ = w.Write([]byte("reloaded\n"))
	})
	held := hold(ln)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return httpService("admin", srv, held, 0), func() { _ = held.Close() }, nil
}
