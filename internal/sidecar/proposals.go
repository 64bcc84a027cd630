package sidecar

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// enforcer puts a policy in force with the operator's grants over it:
// the host's replacements change the base, the board's decisions the
// grants, and both go through set, one at a time.
type enforcer struct {
	// put puts an effective policy in force everywhere, or nowhere.
	put    func(*policy.Policy, map[string]secret.Value) error
	grants func() []policy.GrantMatch

	mu      sync.Mutex
	base    *policy.Policy
	secrets map[string]secret.Value
}

// set makes base (with the grants) the policy in force.
func (e *enforcer) set(base *policy.Policy, secrets map[string]secret.Value) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	eff := base
	if e.grants != nil {
		if gs := e.grants(); len(gs) > 0 {
			var err error
			if eff, err = base.WithGrants(gs); err != nil {
				return err
			}
		}
	}
	if err := e.put(eff, secrets); err != nil {
		return err
	}
	e.base, e.secrets = base, secrets
	return nil
}

// reapply puts the current grants in force over the current base.
func (e *enforcer) reapply() error {
	e.mu.Lock()
	base, secrets := e.base, e.secrets
	e.mu.Unlock()
	return e.set(base, secrets)
}

// newBoard returns the bottle's supervise board over the proxy.
func newBoard(bottle string, timeout time.Duration, current func() *policy.Policy, enf *enforcer, proxy *egress.Proxy, resolve map[string]string, sink egress.AuditSink) *supervise.Board {
	cfg := supervise.BoardConfig{
		Bottle:  bottle,
		Timeout: timeout,
		Policy:  current,
		Reapply: enf.reapply,
		Resolve: func(ctx context.Context, host string) []netip.Addr { return resolveFor(ctx, resolve, host) },
		Refusals: func() []supervise.Block {
			var out []supervise.Block
			for _, r := range proxy.Refusals() {
				out = append(out, supervise.Block{Time: r.Time, Method: r.Method, Host: r.Host, Path: r.Path, Rule: r.Rule, Reason: r.Reason})
			}
			return out
		},
		Redact: proxy.Redact,
	}
	if sink != nil {
		cfg.Audit = func(r supervise.Record) {
			reason := r.Summary
			if r.Notes != "" {
				reason += ": " + r.Notes
			}
			sink.Record(egress.Event{
				Time: time.Now().UTC(), Method: "supervise", Host: r.Host, Decision: r.Event, Rule: string(r.Kind),
				Reason: reason, Proposal: r.Proposal, By: r.By, Diff: r.Diff,
			})
		}
	}
	return supervise.NewBoard(cfg)
}

// resolveFor returns the addresses host reaches: its pin, or what DNS
// says.
func resolveFor(ctx context.Context, pins map[string]string, host string) []netip.Addr {
	if pin, ok := pins[host]; ok {
		h := pin
		if hh, _, err := net.SplitHostPort(pin); err == nil {
			h = hh
		}
		if a, err := netip.ParseAddr(h); err == nil {
			return []netip.Addr{a}
		}
		host = h
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	return addrs
}

// MCPPath is where the agent reaches the MCP server of supervise: on the
// proxy port (origin-form, http://PROXY/mcp) or through the proxy at
// http://_egress.local/mcp.
const MCPPath = "/mcp"

// withMCP serves MCPPath to the agent and hands everything else to next.
func withMCP(next, agentMCP http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && r.URL.Path == MCPPath && (!r.URL.IsAbs() || strings.EqualFold(r.URL.Hostname(), egress.IntrospectionHost)) {
			agentMCP.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
