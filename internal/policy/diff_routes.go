package policy

import (
	"fmt"
	"slices"
	"strings"
)

func (d *Changes) routes(op, np *Policy) {
	old, next := op.Routes, np.Routes
	find := func(rs []Route, host string) *Route {
		if i := slices.IndexFunc(rs, func(r Route) bool { return r.Host == host }); i >= 0 {
			return &rs[i]
		}
		return nil
	}
	for i := range next {
		n := &next[i]
		o := find(old, n.Host)
		if o == nil {
			for _, g := range n.grants(np) {
				d.add(Grant, "egress %s: %s", n.Host, g)
			}
			d.add(Grant, "egress %s: %s", n.Host, n.DLP.summary())
			continue
		}
		d.route(op, np, o, n)
	}
	for i := range old {
		if o := &old[i]; find(next, o.Host) == nil {
			for _, g := range o.grants(op) {
				d.add(Revoke, "egress %s: %s", o.Host, g)
			}
		}
	}
}

// route compares two routes of one host.
func (d *Changes) route(op, np *Policy, o, n *Route) {
	d.setDiff(o.grants(op), n.grants(np), Revoke, Grant, "egress "+n.Host+": %s")
	where := "egress " + n.Host + ": "
	d.setDiff(o.DLP.Outbound, n.DLP.Outbound, Grant, Revoke, where+"outbound scan %s")
	d.setDiff(o.DLP.Inbound, n.DLP.Inbound, Grant, Revoke, where+"inbound scan %s")
	if o.DLP.OnMatch != n.DLP.OnMatch {
		op := Revoke
		if onMatchRank(n.DLP.OnMatch) > onMatchRank(o.DLP.OnMatch) {
			op = Grant
		}
		d.add(op, "%son a DLP match, %s instead of %s", where, n.DLP.OnMatch, o.DLP.OnMatch)
	}
}

// grants lists what a route lets the agent do, one request shape or
// capability an entry.
func (r *Route) grants(p *Policy) []string {
	var out []string
	if len(r.Matches) == 0 {
		out = append(out, "any request")
	}
	for _, m := range r.Matches {
		out = append(out, m.String())
	}
	if r.Auth != nil {
		out = append(out, "injects $"+authEnv(p, r.Auth.Slot)+" as "+r.Auth.Form())
	}
	if r.Role != "" {
		out = append(out, "role "+r.Role)
	}
	if r.GitFetch {
		out = append(out, "git fetch")
	}
	return out
}

// authEnv names the host variable of slot's credential, which a Policy
// from Compile or Parse always has; the slot otherwise.
func authEnv(p *Policy, slot string) string {
	if t, ok := p.Token(slot); ok {
		return t.Env
	}
	return slot
}

func (m Match) String() string {
	methods := "any method"
	if len(m.Methods) > 0 {
		methods = strings.Join(m.Methods, ",")
	}
	paths := "any path"
	if len(m.Paths) > 0 {
		ps := make([]string, len(m.Paths))
		for i, p := range m.Paths {
			ps[i] = fmt.Sprintf("%s %q", p.Type, p.Value)
		}
		paths = strings.Join(ps, " or ")
	}
	var b strings.Builder
	b.WriteString(methods + " " + paths)
	for _, h := range m.Headers {
		fmt.Fprintf(&b, " with header %s %s %q", h.Name, h.Type, h.Value)
	}
	return b.String()
}

// summary describes a new route's scans.
func (x DLP) summary() string {
	list := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return strings.Join(l, ",")
	}
	return fmt.Sprintf("outbound scan %s, inbound scan %s, on a match %s", list(x.Outbound), list(x.Inbound), x.OnMatch)
}

// onMatchRank orders DLP actions from the strictest: block refuses,
// supervise lets the operator decide, redact forwards the request without
// the match.
func onMatchRank(s string) int {
	switch s {
	case "block":
		return 0
	case "supervise":
		return 1
	case "redact":
		return 2
	}
	return 3
}
