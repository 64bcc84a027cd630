package policy

import (
	"net/http"
	"slices"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// GrantMatch is a match the operator added to a bottle's policy while it runs
// (supervise): on Host's route, or on a new route for Host without a
// credential.
type GrantMatch struct {
	// ID names the grant (the proposal it came from); AllowedBy reports it.
	ID    string
	Host  string
	Match Match
}

// WithGrants returns a prepared copy of p with gs added: a grant on a
// host p routes adds its match to that route, after the route's own, and
// takes nothing from it (a route without matches already allows every
// request, so the grant changes nothing there); a grant on another host
// adds a route without a credential, with the manifest's default DLP. The
// copy is validated whole, as Parse validates, so a grant that does not
// validate fails here and p stays as it is.
func (p *Policy) WithGrants(gs []GrantMatch) (*Policy, error) {
	q := *p
	q.Routes = make([]Route, len(p.Routes))
	for i, r := range p.Routes {
		r.Matches = slices.Clone(r.Matches)
		r.grantIDs = slices.Clone(r.grantIDs)
		r.matchers = nil
		q.Routes[i] = r
	}
	q.hosts = nil
	for _, g := range gs {
		m := g.Match
		if len(m.Paths) == 0 && len(m.Methods) == 0 && len(m.Headers) == 0 {
			// Every request, as a match: a route without matches would
			// not name the grant, whose uses must be counted.
			m.Paths = []PathMatch{{Type: "prefix", Value: "/"}}
		}
		host := asciiLower(g.Host)
		i := slices.IndexFunc(q.Routes, func(r Route) bool { return r.Host == host })
		if i < 0 {
			q.Routes = append(q.Routes, Route{
				Host: host,
				DLP: DLP{
					Outbound: slices.Clone(manifest.DefaultOutboundDetectors),
					Inbound:  slices.Clone(manifest.DefaultInboundDetectors),
					OnMatch:  manifest.DefaultOutboundOnMatch,
				},
				Matches:  []Match{m},
				grantIDs: []string{g.ID},
			})
			continue
		}
		if rt := &q.Routes[i]; len(rt.Matches) > 0 {
			if len(rt.grantIDs) < len(rt.Matches) {
				rt.grantIDs = append(rt.grantIDs, make([]string, len(rt.Matches)-len(rt.grantIDs))...)
			}
			rt.Matches = append(rt.Matches, m)
			rt.grantIDs = append(rt.grantIDs, g.ID)
		}
	}
	if err := q.prepare(); err != nil {
		return nil, err
	}
	return &q, nil
}

// AllowedBy is Allows that also names the grant whose match allowed the
// request, "" when the route's own matches did (they are tried first).
func (r *Route) AllowedBy(method, path string, h http.Header) (bool, string) {
	if len(r.Matches) == 0 {
		return true, ""
	}
	if len(r.matchers) != len(r.Matches) {
		return false, "" // Security: not prepared; fail closed.
	}
	method = asciiUpper(method)
	for i := range r.matchers {
		if r.matchers[i].allows(method, path, h) {
			if i < len(r.grantIDs) {
				return true, r.grantIDs[i]
			}
			return true, ""
		}
	}
	return false, ""
}
