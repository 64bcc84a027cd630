package policy

import (
	"net/http"
	"strings"
)

// Lookup returns the route for host, compared case-insensitively and with
// a trailing dot ignored. Hosts match exactly: there are no wildcards.
//
// Security: a host without a route is refused; callers must treat !ok as
// deny.
func (p *Policy) Lookup(host string) (*Route, bool) {
	r, ok := p.byHost[strings.TrimSuffix(strings.ToLower(host), ".")]
	return r, ok
}

// Allows reports whether a request with this method, path and headers
// matches the route. The path must already be normalised (see CleanPath).
//
// Semantics, as in the Kubernetes Gateway API: no matches allows every
// request; the matches list is ORed; inside one entry, paths are ORed,
// methods are ORed (case-insensitively), and the paths, the methods and
// each header predicate are ANDed. An entry without paths allows any path,
// one without methods any method.
func (r *Route) Allows(method, path string, h http.Header) bool {
	if len(r.Matches) == 0 {
		return true
	}
	for i := range r.Matches {
		if r.Matches[i].allows(method, path, h) {
			return true
		}
	}
	return false
}

func (m *Match) allows(method, path string, h http.Header) bool {
	if len(m.Methods) > 0 {
		ok := false
		for _, mm := range m.Methods {
			if strings.EqualFold(mm, method) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(m.Paths) > 0 {
		ok := false
		for i := range m.Paths {
			if m.Paths[i].matches(path) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range m.Headers {
		if !m.Headers[i].matches(h) {
			return false
		}
	}
	return true
}

// matches applies one path predicate. A prefix matches whole path
// elements: "/api/v1" matches "/api/v1" and "/api/v1/x" but not
// "/api/v1x". A regex must match the whole path.
func (pm *PathMatch) matches(path string) bool {
	switch pm.Type {
	case "exact":
		return path == pm.Value
	case "regex":
		return pm.re != nil && pm.re.MatchString(path)
	}
	prefix := strings.TrimSuffix(pm.Value, "/")
	if prefix == "" {
		return true
	}
	rest, ok := strings.CutPrefix(path, prefix)
	return ok && (rest == "" || rest[0] == '/')
}

// matches holds when the header is present and any of its values matches
// (exactly, case-sensitively, or by a whole-value regex).
func (hm *HeaderMatch) matches(h http.Header) bool {
	for _, v := range h.Values(hm.Name) {
		switch hm.Type {
		case "regex":
			if hm.re != nil && hm.re.MatchString(v) {
				return true
			}
		default:
			if v == hm.Value {
				return true
			}
		}
	}
	return false
}
