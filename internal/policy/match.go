package policy

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

var (
	// methodRE is an HTTP token with no lowercase letter.
	methodRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Z-]+$")
	// headerNameRE is an HTTP token.
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// matcher is one Match entry, compiled.
type matcher struct {
	paths   []pathMatcher
	methods []string
	headers []headerMatcher
}

type pathMatcher struct {
	typ   string
	value string // for prefix: the value without trailing slashes
	re    *regexp.Regexp
}

type headerMatcher struct {
	name  string
	value string
	re    *regexp.Regexp
}

// Allows reports whether the route lets a request with this method, path
// and header through. The semantics are those of the Kubernetes Gateway
// API's HTTPRouteMatch:
//
//   - A route without matches allows every request.
//   - Otherwise the request needs to satisfy at least one entry (entries are
//     ORed). An entry holds when its paths, its methods and every one of
//     its header predicates hold (ANDed).
//   - Paths: the entry's paths are ORed; an empty list is any path.
//     "exact" is string equality. "prefix" matches whole path elements:
//     "/api/v1" (or "/api/v1/") matches "/api/v1", "/api/v1/" and
//     "/api/v1/x", not "/api/v1x"; "/" matches every path. "regex" is an
//     RE2 expression that must match the whole path.
//   - Methods: ORed, compared ignoring ASCII case; an empty list is any
//     method.
//   - Headers: the name ignores ASCII case. A predicate holds when the
//     header is present and any one of its values matches: "exact" is
//     case-sensitive equality with the whole value, "regex" must match the
//     whole value. A header sent several times is several values; a
//     comma-separated line is one value.
//
// Path is the request's URL path without the query, already put in
// canonical form with CleanPath; Allows does not clean it. A route not
// prepared by Compile or Parse allows nothing unless it has no matches.
func (r *Route) Allows(method, path string, h http.Header) bool {
	ok, _ := r.AllowedBy(method, path, h)
	return ok
}

func (m *matcher) allows(method, path string, h http.Header) bool {
	if len(m.methods) > 0 && !slices.Contains(m.methods, method) {
		return false
	}
	if len(m.paths) > 0 && !slices.ContainsFunc(m.paths, func(p pathMatcher) bool { return p.match(path) }) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].match(h) {
			return false
		}
	}
	return true
}

func (p pathMatcher) match(path string) bool {
	switch p.typ {
	case manifest.PathExact:
		return path == p.value
	case manifest.PathPrefix:
		return strings.HasPrefix(path, "/") && (path == p.value || strings.HasPrefix(path, p.value+"/"))
	case manifest.PathRegex:
		return p.re.MatchString(path)
	}
	return false
}

func (hm headerMatcher) match(h http.Header) bool {
	for name, values := range h {
		if asciiLower(name) != hm.name {
			continue
		}
		if slices.ContainsFunc(values, hm.matchValue) {
			return true
		}
	}
	return false
}

func (hm headerMatcher) matchValue(v string) bool {
	if hm.re != nil {
		return hm.re.MatchString(v)
	}
	return v == hm.value
}

// fullRegex compiles re so that it must match a whole string.
func fullRegex(re string) (*regexp.Regexp, error) {
	// Compile re alone first, so that an error quotes what was written.
	if _, err := regexp.Compile(re); err != nil {
		return nil, fmt.Errorf("regex %q does not compile: %w", re, err)
	}
	c, err := regexp.Compile("^(?:" + re + ")$")
	if err != nil {
		return nil, fmt.Errorf("regex %q does not compile: %w", re, err)
	}
	return c, nil
}

// compileMatch validates one Match entry and compiles it. Errors name the
// offending field below where.
func compileMatch(m Match, where string) (matcher, []error) {
	var c matcher
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", where, field, fmt.Sprintf(format, args...)))
	}
	if len(m.Paths) == 0 && len(m.Methods) == 0 && len(m.Headers) == 0 {
		errs = append(errs, fmt.Errorf("%s: empty match entry would allow every request; drop matches instead", where))
	}
	for i, p := range m.Paths {
		field := fmt.Sprintf("paths[%d]", i)
		pm := pathMatcher{typ: p.Type, value: p.Value}
		switch p.Type {
		case manifest.PathPrefix, manifest.PathExact:
			if !strings.HasPrefix(p.Value, "/") {
				fail(field+".value", "%q must start with /", p.Value)
				continue
			}
			if p.Type == manifest.PathPrefix {
				pm.value = strings.TrimRight(p.Value, "/")
			}
		case manifest.PathRegex:
			re, err := fullRegex(p.Value)
			if err != nil {
				fail(field+".value", "%v", err)
				continue
			}
			pm.re = re
		default:
			fail(field+".type", "%q is not a path type; allowed: prefix, exact, regex", p.Type)
			continue
		}
		c.paths = append(c.paths, pm)
	}
	for i, meth := range m.Methods {
		if !methodRE.MatchString(meth) {
			fail(fmt.Sprintf("methods[%d]", i), "%q is not an uppercase HTTP method", meth)
			continue
		}
		c.methods = append(c.methods, meth)
	}
	for i, hd := range m.Headers {
		field := fmt.Sprintf("headers[%d]", i)
		if !headerNameRE.MatchString(hd.Name) {
			fail(field+".name", "%q is not an HTTP header name", hd.Name)
			continue
		}
		hm := headerMatcher{name: asciiLower(hd.Name), value: hd.Value}
		switch hd.Type {
		case manifest.HeaderExact:
		case manifest.HeaderRegex:
			re, err := fullRegex(hd.Value)
			if err != nil {
				fail(field+".value", "%v", err)
				continue
			}
			hm.re = re
		default:
			fail(field+".type", "%q is not a header type; allowed: exact, regex", hd.Type)
			continue
		}
		c.headers = append(c.headers, hm)
	}
	return c, errs
}
