package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Config configures a Proxy.
type Config struct {
	Policy *policy.Policy
	CA     *CA
	// Secrets holds the value of each token slot of the policy.
	Secrets map[string]secret.Value
	// Resolve pins hosts to addresses: every connection to a host in it
	// dials the given host:port instead of resolving the name.
	Resolve map[string]string
	// UpstreamRoots verifies upstream TLS. When nil, LoadUpstreamRoots is
	// called on the first upstream connection, or else the system roots
	// are.
	UpstreamRoots     *x509.CertPool
	LoadUpstreamRoots func() *x509.CertPool
	// Audit receives one event per decision; nil discards them.
	Audit AuditSink
	// Supervisor holds DLP matches of routes whose outbound_on_match is
	// supervise; nil refuses them at once.
	Supervisor Supervisor
	// GrantUse is asked before a request allowed only by an operator's
	// grant (policy.WithGrants) goes out: it counts one use and reports
	// whether the grant still holds. Nil refuses such requests.
	GrantUse func(id string) bool
	// AskHint adds to each refusal a route change could lift how to ask
	// the operator for it (supervise's request_route).
	AskHint bool
	// Log is the proxy's logger; nil discards.
	Log *slog.Logger
}

// AuditSink records decisions.
type AuditSink interface {
	Record(Event)
}

// Proxy is the egress proxy. It implements http.Handler for the listener
// the agent's HTTP(S)_PROXY points at.
type Proxy struct {
	state      atomic.Pointer[state]
	ca         *CA
	audit      AuditSink
	supervisor Supervisor
	grantUse   func(string) bool
	askHint    bool
	refusals   refusalLog
	quiet      quietLog
	log        *slog.Logger

	transport *transport
	rp        *httputil.ReverseProxy
	inner     *http.Server
	conns     *connListener
	// tunnels maps an intercepted *tls.Conn to its *tunnel.
	tunnels sync.Map
}

// state is what a reload replaces at once: the policy and its secrets.
type state struct {
	pol     *policy.Policy
	secrets map[string]secret.Value
	// scanner finds the secrets in outbound requests; nil when there are
	// none.
	scanner *dlp.Scanner
	// redactor removes them from responses and records.
	redactor *dlp.Redactor
}

func newState(pol *policy.Policy, secrets map[string]secret.Value) (*state, error) {
	if pol == nil {
		return nil, errors.New("no policy")
	}
	for _, t := range pol.Tokens {
		if secrets[t.Slot].IsZero() {
			return nil, fmt.Errorf("secret for %s (host variable %s) is missing", t.Slot, t.Env)
		}
	}
	st := &state{pol: pol, secrets: secrets}
	var known []dlp.Secret
	for _, t := range pol.Tokens {
		known = append(known, dlp.Secret{Slot: t.Slot, Value: secrets[t.Slot], Hosts: t.Hosts})
	}
	if len(known) > 0 {
		st.scanner = dlp.New(known)
	}
	st.redactor = dlp.NewRedactor(known, usesPatterns(pol))
	WarmFor(pol)
	return st, nil
}

type tunnelKey struct{}

// tunnel is one intercepted CONNECT: where it goes, and its own upstream
// connection for HTTP/1.1 requests.
type tunnel struct {
	target target
	pin    *pinnedConn
}

// New returns a proxy enforcing cfg.Policy.
func New(cfg Config) (*Proxy, error) {
	if cfg.CA == nil {
		return nil, errors.New("egress proxy needs a CA")
	}
	st, err := newState(cfg.Policy, cfg.Secrets)
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{ca: cfg.CA, audit: cfg.Audit, supervisor: cfg.Supervisor, grantUse: cfg.GrantUse, askHint: cfg.AskHint}
	p.state.Store(st)
	p.log = slog.New(redactingHandler{h: log.Handler(), redact: p.Redact}).With("component", "egress")
	if a, ok := cfg.Audit.(*AuditLog); ok {
		a.proxy.Store(p)
	}
	p.transport = newTransport(cfg.Resolve, rootsFunc(cfg))
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		ModifyResponse: p.respond,
		Transport:      p.transport,
		// Zero: sized responses are buffered as usual, while streams
		// (text/event-stream, or no Content-Length) are flushed after
		// every write.
		FlushInterval: 0,
		ErrorHandler:  p.upstreamError,
		ErrorLog:      slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	p.conns = newConnListener()
	p.inner = &http.Server{
		Handler:           http.HandlerFunc(p.serveIntercepted),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if t, ok := p.tunnels.Load(c); ok {
				return context.WithValue(ctx, tunnelKey{}, t)
			}
			return ctx
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				if t, ok := p.tunnels.LoadAndDelete(c); ok {
					t.(*tunnel).pin.close()
				}
			}
		},
	}
	go func() { _ = p.inner.Serve(p.conns) }()
	return p, nil
}

// WarmFor starts loading the token-pattern rules in the background when
// pol uses them (about 30 ms), so that the first request does not wait.
// Call it as early as the policy is known.
func WarmFor(pol *policy.Policy) {
	for _, rt := range pol.Routes {
		if slices.Contains(rt.DLP.Outbound, dlp.TokenPatterns) {
			go func() {
				dlp.Warm()
				// Loading the rules allocates about 30 MB, 8 MB of which
				// stay; hand the rest back now rather than when the
				// scavenger gets to it, since a machine runs a sidecar per
				// bottle.
				debug.FreeOSMemory()
			}()
			return
		}
	}
}

// Reload replaces the policy and its secrets for new requests. Open
// connections keep running; their next request sees the new policy.
func (p *Proxy) Reload(pol *policy.Policy, secrets map[string]secret.Value) error {
	st, err := newState(pol, secrets)
	if err != nil {
		return err
	}
	p.state.Store(st)
	return nil
}

// Policy returns the policy in force.
func (p *Proxy) Policy() *policy.Policy { return p.state.Load().pol }

// Close stops serving intercepted connections.
func (p *Proxy) Close() error {
	p.transport.CloseIdleConnections()
	return p.inner.Close()
}

// ServeHTTP handles what the agent sends to the proxy port: CONNECT
// tunnels and absolute-form http:// requests.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.serveConnect(w, r)
		return
	}
	if !r.URL.IsAbs() || normHost(r.URL.Hostname()) == IntrospectionHost {
		p.serveIntrospection(w, r)
		return
	}
	t, ok := absoluteTarget(r.URL)
	if !ok {
		rec := p.start(r, target{host: r.Host})
		rec.refuse(w, refuse(BlockBadRequest, "this is a proxy: send CONNECT or an absolute http:// URL"))
		return
	}
	p.forward(w, r, t, nil)
}

func (p *Proxy) serveConnect(w http.ResponseWriter, r *http.Request) {
	host, port := splitHostPort(r.Host)
	t := target{host: normHost(host), port: port, tls: true}
	if port == "" {
		t.port = "443"
	}
	rec := p.start(r, t)
	if _, rf := checkHost(p.Policy(), host); rf != nil {
		rec.refuse(w, rf)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		rec.refuse(w, refuse(BlockBadRequest, "CONNECT needs HTTP/1.1"))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := brw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || brw.Flush() != nil {
		_ = conn.Close()
		return
	}
	leaf, err := p.ca.Leaf(t.host)
	if err != nil {
		p.log.Error("minting leaf certificate", "host", t.host, "err", err)
		_ = conn.Close()
		return
	}
	tc := tls.Server(&bufferedConn{Conn: conn, r: brw.Reader}, &tls.Config{
		Certificates: []tls.Certificate{*leaf},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	})
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		p.log.Debug("client TLS handshake", "host", t.host, "err", err)
		_ = conn.Close()
		return
	}
	pin := &pinnedConn{pool: &p.transport.pool, key: net.JoinHostPort(t.host, t.port)}
	p.tunnels.Store(net.Conn(tc), &tunnel{target: t, pin: pin})
	if !p.conns.push(tc) {
		_ = tc.Close()
	}
}

// serveIntercepted handles one request inside an intercepted tunnel.
func (p *Proxy) serveIntercepted(w http.ResponseWriter, r *http.Request) {
	tn, ok := r.Context().Value(tunnelKey{}).(*tunnel)
	if !ok {
		http.Error(w, "unknown tunnel", http.StatusInternalServerError)
		return
	}
	p.forward(w, r, tn.target, tn.pin)
}

// forward decides and, when allowed, proxies one request to its upstream.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, t target, pin *pinnedConn) {
	rec := p.start(r, t)
	st := p.state.Load()
	rt, path, rf := decide(st.pol, t, r)
	if rf == nil {
		rf = checkFormOverride(rt, r)
	}
	if rf != nil && rf.code == BlockNonStandardMethod {
		rec.ev.Method = "(non-standard)" // Security: the token may carry a secret.
	}
	if rf != nil {
		rec.refuse(w, rf)
		return
	}
	rec.ev.Route = rt.Host
	rec.ev.Path = path
	if rf := plainCredential(rt, t, path); rf != nil {
		rec.refuse(w, rf)
		return
	}
	if rf := p.outbound(st, rt, t, r); rf != nil {
		rec.refuse(w, rf)
		return
	}
	if rf := p.useGrant(rt, path, r); rf != nil {
		rec.refuse(w, rf)
		return
	}
	rec.ev.patternsPassed = slices.Contains(rt.DLP.Outbound, dlp.TokenPatterns) && p.refusesMatches(rt)
	cw := &countingWriter{ResponseWriter: w, rd: st.redactor}
	// Deferred so that a response the client abandons (ReverseProxy then
	// panics with http.ErrAbortHandler) is audited too.
	f := forwarded{route: rt, target: t, note: &note{}, pin: pin}
	defer func() {
		if f.note.rule != "" {
			rec.done(cw.status, cw.n, "block", f.note.rule)
			return
		}
		if f.note.redacted {
			rec.done(cw.status, cw.n, "allow", RuleResponseSecret)
			return
		}
		rec.done(cw.status, cw.n, "allow", "")
	}()
	if rt.Auth != nil {
		f.header = rt.Auth.HeaderName()
		f.credential = rt.Auth.Value(st.secrets[rt.Auth.Slot].Reveal())
	}
	ctx := context.WithValue(r.Context(), routeKey{}, f)
	p.rp.ServeHTTP(cw, r.WithContext(ctx))
}

type routeKey struct{}

type forwarded struct {
	route  *policy.Route
	target target
	// credential is the value to inject in header, if any.
	credential string
	header     string
	// pin is the tunnel's own upstream connection, if it has one.
	pin *pinnedConn
	// note collects what happened after the decision, for the audit.
	note *note
}

// note is what the response side adds to a request's audit event.
type note struct {
	rule string
	// redacted is set when a secret was masked in the response.
	redacted bool
}

// rewrite builds the upstream request: the target's scheme and authority,
// the agent's credentials removed and the route's injected.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(routeKey{}).(forwarded)
	out := pr.Out
	out.URL.Scheme = "http"
	if f.target.tls {
		out.URL.Scheme = "https"
	}
	out.URL.Host = net.JoinHostPort(f.target.host, f.target.port)
	if (out.URL.Scheme == "https" && f.target.port == "443") || (out.URL.Scheme == "http" && f.target.port == "80") {
		out.URL.Host = f.target.host
	}
	out.Host = out.URL.Host
	// Security: the agent's own credentials never pass.
	out.Header.Del("Authorization")
	out.Header.Del("Proxy-Authorization")
	out.Header.Del("Proxy-Connection")
	sanitize(out)
	if f.credential != "" {
		stripCredentials(out.Header, f.header)
		out.Header.Set(f.header, f.credential)
	}
	// Inbound scanning reads responses as sent: ask for them uncompressed.
	if len(f.route.DLP.Inbound) > 0 {
		out.Header.Del("Accept-Encoding")
	}
}

func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	p.log.Info("upstream request failed", "host", r.Host, "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	fmt.Fprintf(w, "bot-bottle egress could not reach the upstream: %s\n", p.Redact(strings.ReplaceAll(err.Error(), "\n", " ")))
}

// rootsFunc returns the upstream roots of cfg, loaded once, on first use.
func rootsFunc(cfg Config) func() *x509.CertPool {
	switch {
	case cfg.UpstreamRoots != nil:
		roots := cfg.UpstreamRoots
		return func() *x509.CertPool { return roots }
	case cfg.LoadUpstreamRoots != nil:
		return sync.OnceValue(cfg.LoadUpstreamRoots)
	}
	return sync.OnceValue(func() *x509.CertPool {
		roots, err := x509.SystemCertPool()
		if err != nil {
			return x509.NewCertPool()
		}
		return roots
	})
}
