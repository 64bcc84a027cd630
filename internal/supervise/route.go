package supervise

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// Limits on what the agent may ask for in one request.
const (
	maxPaths     = 16
	maxMethods   = 8
	maxValue     = 512
	maxReason    = 1000
	maxHostBytes = 253
)

// Methods a route request may name.
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

var writeMethods = []string{"POST", "PUT", "PATCH", "DELETE"}

// Normalize validates req as a route change and returns it in canonical
// form (lowercase host, uppercase methods, sorted and deduplicated) and
// as the policy match it grants. redact, when set, is the sidecar's
// redaction of known secrets: a request that names one is refused, a
// reason that holds one is kept redacted. Errors are written for the
// agent.
func Normalize(req RouteRequest, redact func(string) string) (RouteRequest, policy.Match, error) {
	var out RouteRequest
	host := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(req.Host), "."))
	switch {
	case host == "":
		return out, policy.Match{}, errors.New("host is required: the DNS name the request goes to, such as api.example.com")
	case len(host) > maxHostBytes:
		return out, policy.Match{}, errors.New("host is longer than a DNS name can be")
	case net.ParseIP(strings.Trim(host, "[]")) != nil:
		return out, policy.Match{}, errors.New("host is an IP address: routes name DNS hosts; IP addresses are never routed")
	case strings.ContainsAny(host, ":/@ "):
		return out, policy.Match{}, errors.New("host must be a DNS name alone: no scheme, port, path or user")
	case !dnsName(host):
		return out, policy.Match{}, fmt.Errorf("host %q is not a DNS name: labels of a-z, 0-9 and -, joined by dots", host)
	}
	out.Host = host
	if len(req.Paths) > maxPaths {
		return out, policy.Match{}, fmt.Errorf("at most %d paths per request", maxPaths)
	}
	var m policy.Match
	for _, p := range req.Paths {
		if len(p.Value) > maxValue {
			return out, policy.Match{}, fmt.Errorf("a path is longer than %d bytes", maxValue)
		}
		switch p.Type {
		case "prefix", "exact":
			if !strings.HasPrefix(p.Value, "/") {
				return out, policy.Match{}, fmt.Errorf("path %q: a %s path starts with /", p.Value, p.Type)
			}
		case "regex":
			if _, err := regexp.Compile(p.Value); err != nil {
				return out, policy.Match{}, fmt.Errorf("path %q: not a regular expression: %w", p.Value, err)
			}
		default:
			return out, policy.Match{}, fmt.Errorf("path type %q: use prefix, exact or regex", p.Type)
		}
		sp := PathSpec{Type: p.Type, Value: p.Value}
		if !slices.Contains(out.Paths, sp) {
			out.Paths = append(out.Paths, sp)
			m.Paths = append(m.Paths, policy.PathMatch{Type: p.Type, Value: p.Value})
		}
	}
	if len(req.Methods) > maxMethods {
		return out, policy.Match{}, fmt.Errorf("at most %d methods per request", maxMethods)
	}
	for _, meth := range req.Methods {
		meth = strings.ToUpper(strings.TrimSpace(meth))
		if !slices.Contains(methods, meth) {
			return out, policy.Match{}, fmt.Errorf("method %q: use one of %s", meth, strings.Join(methods, ", "))
		}
		if !slices.Contains(out.Methods, meth) {
			out.Methods = append(out.Methods, meth)
		}
	}
	slices.Sort(out.Methods)
	m.Methods = slices.Clone(out.Methods)
	if redact != nil {
		texts := []string{out.Host}
		for _, p := range out.Paths {
			texts = append(texts, p.Value)
		}
		for _, s := range texts {
			if redact(s) != s {
				return RouteRequest{}, policy.Match{}, errors.New("the request holds a credential the sidecar guards; a route never carries one, and the operator's edit alone adds a credential to a route")
			}
		}
	}
	reason := req.Reason
	if redact != nil {
		reason = redact(reason)
	}
	if len(reason) > maxReason {
		reason = reason[:maxReason]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
		reason += "…"
	}
	out.Reason = reason
	return out, m, nil
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// dnsName reports whether host is a lowercase DNS name.
func dnsName(host string) bool {
	for l := range strings.SplitSeq(host, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// Describe is a route request in one line, for a summary: hosts, methods
// and paths escaped.
func Describe(r RouteRequest) string {
	meth := "any method"
	if len(r.Methods) > 0 {
		meth = strings.Join(r.Methods, ",")
	}
	paths := "any path"
	if len(r.Paths) > 0 {
		var ps []string
		for _, p := range r.Paths {
			ps = append(ps, p.Type+" "+p.Value)
		}
		paths = strings.Join(ps, "; ")
	}
	return Escape(fmt.Sprintf("%s %s (%s)", meth, r.Host, paths))
}

// matchesAll reports whether a path list allows every path.
func matchesAll(ps []PathSpec) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		switch {
		case p.Type == "prefix" && p.Value == "/":
			return true
		case p.Type == "regex":
			re, err := regexp.Compile("^(?:" + p.Value + ")$")
			if err == nil && re.MatchString("/") && re.MatchString("/a/b/c") && re.MatchString("/zz?x=1") {
				return true
			}
		}
	}
	return false
}
