package egress

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// IntrospectionHost is the name under which the agent reaches the proxy's
// own endpoints (http://_egress.local/routes); the same paths are served
// to origin-form requests sent straight to the proxy port.
const IntrospectionHost = "_egress.local"

// refusalLog keeps the most recent refusals for the agent to read.
type refusalLog struct {
	mu sync.Mutex
	// ring and next are guarded by mu.
	ring []RecentRefusal
	next int
}

// RecentRefusal is a refusal as the agent sees it.
type RecentRefusal struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Host   string    `json:"host"`
	Path   string    `json:"path"`
	Rule   string    `json:"rule"`
	Reason string    `json:"reason"`
}

const recentRefusals = 50

func (l *refusalLog) add(r RecentRefusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < recentRefusals {
		l.ring = append(l.ring, r)
		return
	}
	l.ring[l.next] = r
	l.next = (l.next + 1) % recentRefusals
}

// list returns the refusals, newest first.
func (l *refusalLog) list() []RecentRefusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]RecentRefusal, 0, len(l.ring))
	for i := range l.ring {
		out = append(out, l.ring[(l.next+len(l.ring)-1-i)%len(l.ring)])
	}
	return out
}

// Refusals returns the proxy's recent refusals, newest first, redacted.
func (p *Proxy) Refusals() []RecentRefusal { return p.refusals.list() }

// effectiveRoute is a route as the agent may see it: no slots, no secrets.
type effectiveRoute struct {
	Host     string `json:"host"`
	Role     string `json:"role,omitempty"`
	Auth     string `json:"auth,omitempty"`
	Matches  any    `json:"matches,omitempty"`
	DLP      any    `json:"dlp"`
	GitFetch bool   `json:"git_fetch"`
}

// serveIntrospection answers GET /routes and GET /refusals.
func (p *Proxy) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	var v any
	switch r.URL.Path {
	case "/routes", "/allowlist":
		pol := p.Policy()
		routes := make([]effectiveRoute, 0, len(pol.Routes))
		for _, rt := range pol.Routes {
			er := effectiveRoute{Host: rt.Host, Role: rt.Role, DLP: rt.DLP, GitFetch: rt.GitFetch}
			if len(rt.Matches) > 0 {
				er.Matches = rt.Matches
			}
			switch {
			case rt.Auth != nil && rt.Auth.Header != "":
				er.Auth = "credential injected by the sidecar in the " + rt.Auth.Header + " header"
			case rt.Auth != nil:
				er.Auth = rt.Auth.Form() + " credential injected by the sidecar"
			}
			routes = append(routes, er)
		}
		v = map[string]any{"bottle": pol.Bottle, "routes": routes, "default": "every other host is refused"}
	case "/refusals":
		v = map[string]any{"refusals": p.refusals.list()}
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("bot-bottle egress: GET /routes (what this bottle may reach) or /refusals (recent refusals and why)\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
