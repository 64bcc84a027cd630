package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

var (
	bottleNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]*(\+[a-z][a-z0-9-]*)*$`) // a runtime merge joins names with +
	labelRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	numericTLDRE = regexp.MustCompile(`^([0-9]+|0x[0-9a-f]*)$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tokenSlotRE  = regexp.MustCompile(`^` + TokenSlotPrefix + `[0-9]+$`)
)

// errorList collects validation errors, each naming its field.
type errorList []error

func (l *errorList) add(field, format string, args ...any) {
	*l = append(*l, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// prepare validates p as a whole, normalises its empty lists and compiles
// its matchers and host index. Compile and Parse both end with it, so that
// every Policy in use has passed the same checks.
func (p *Policy) prepare() error {
	var errs errorList
	if p.Version != Version {
		errs.add("version", "policy version %d is not supported (supported: %d)", p.Version, Version)
	}
	if !bottleNameRE.MatchString(p.Bottle) {
		errs.add("bottle", "%q is not a bottle name", p.Bottle)
	}
	if p.Log < manifest.EgressLogOff || p.Log > manifest.EgressLogFull {
		errs.add("log", "%d is not a level; allowed: 0 (off), 1 (blocks), 2 (full)", p.Log)
	}
	if p.Routes == nil {
		p.Routes = []Route{}
	}
	if p.Tokens == nil {
		p.Tokens = []TokenSlot{}
	}
	p.hosts = make(map[string]int, len(p.Routes))
	for i := range p.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		r := &p.Routes[i]
		r.prepare(where, &errs)
		if j, dup := p.hosts[r.Host]; dup && r.Host != "" {
			errs.add(where+".host", "%q is already routed by routes[%d]", r.Host, j)
			continue
		}
		p.hosts[r.Host] = i
	}
	for i, h := range p.Quiet {
		if err := checkHost(h); err != nil {
			errs.add(fmt.Sprintf("quiet[%d]", i), "%v", err)
		}
	}
	p.checkTokens(&errs)
	if p.GitGate != nil {
		p.GitGate.prepare(&errs)
	}
	if len(errs) > 0 {
		p.hosts = nil // Security: an invalid policy allows nothing.
		return errors.Join(errs...)
	}
	return nil
}

func (r *Route) prepare(where string, errs *errorList) {
	if err := checkHost(r.Host); err != nil {
		errs.add(where+".host", "%v", err)
	}
	if r.Role != "" && !slices.Contains(manifest.Roles, r.Role) {
		errs.add(where+".role", "%q is not a role; allowed: %s", r.Role, strings.Join(manifest.Roles, ", "))
	}
	if a := r.Auth; a != nil {
		checkAuthForm(a, where, errs)
		if !tokenSlotRE.MatchString(a.Slot) {
			errs.add(where+".auth.slot", "%q is not a token slot (%sN)", a.Slot, TokenSlotPrefix)
		}
	}
	r.matchers = nil
	for i, m := range r.Matches {
		c, merrs := compileMatch(m, fmt.Sprintf("%s.matches[%d]", where, i))
		*errs = append(*errs, merrs...)
		r.matchers = append(r.matchers, c)
		r.Matches[i] = Match{Paths: nilIfEmpty(m.Paths), Methods: nilIfEmpty(m.Methods), Headers: nilIfEmpty(m.Headers)}
	}
	r.Matches = nilIfEmpty(r.Matches)
	checkDetectors(r.DLP.Outbound, manifest.OutboundDetectors, where+".dlp.outbound", "outbound", errs)
	checkDetectors(r.DLP.Inbound, manifest.InboundDetectors, where+".dlp.inbound", "inbound", errs)
	switch r.DLP.OnMatch {
	case manifest.OnMatchSupervise, manifest.OnMatchRedact, manifest.OnMatchBlock:
	default:
		errs.add(where+".dlp.on_match", "%q is not an action; allowed: supervise, redact, block", r.DLP.OnMatch)
	}
}

// checkAuthForm checks how an auth sends its secret: a scheme for
// Authorization, or the bare secret in another header, which must be
// canonical and one CheckAuthHeader accepts.
func checkAuthForm(a *Auth, where string, errs *errorList) {
	if a.Header == "" {
		if a.Scheme != manifest.AuthSchemeBearer && a.Scheme != manifest.AuthSchemeToken {
			errs.add(where+".auth.scheme", "%q is not a scheme; allowed: Bearer, token", a.Scheme)
		}
		return
	}
	h, err := manifest.CheckAuthHeader(a.Header)
	switch {
	case err != nil:
		errs.add(where+".auth.header", "%v", err)
	case h == manifest.AuthHeaderDefault:
		errs.add(where+".auth.header", "%q is the default; omit header for Authorization", a.Header)
	case h != a.Header:
		errs.add(where+".auth.header", "%q is not in canonical form (%s)", a.Header, h)
	}
	if a.Scheme != "" {
		errs.add(where+".auth.scheme", "%q with header %q; a scheme applies to Authorization only", a.Scheme, a.Header)
	}
}

func checkDetectors(list, allowed []string, field, direction string, errs *errorList) {
	if list == nil {
		errs.add(field, "missing; write [] to turn %s DLP off", direction)
		return
	}
	for i, d := range list {
		switch {
		case !slices.Contains(allowed, d):
			errs.add(fmt.Sprintf("%s[%d]", field, i), "%q is not a detector; allowed: %s", d, strings.Join(allowed, ", "))
		case slices.Index(list, d) < i:
			errs.add(fmt.Sprintf("%s[%d]", field, i), "%q is listed twice", d)
		}
	}
}

// checkTokens checks that token slots and route auth agree: every route
// auth names a slot, and a slot's hosts are exactly the routes using it.
func (p *Policy) checkTokens(errs *errorList) {
	slots := map[string]int{}
	envs := map[string]int{}
	for i, t := range p.Tokens {
		where := fmt.Sprintf("tokens[%d]", i)
		if !tokenSlotRE.MatchString(t.Slot) {
			errs.add(where+".slot", "%q is not a token slot (%sN)", t.Slot, TokenSlotPrefix)
		} else if j, dup := slots[t.Slot]; dup {
			errs.add(where+".slot", "%q is already tokens[%d]", t.Slot, j)
		} else {
			slots[t.Slot] = i
		}
		if !envNameRE.MatchString(t.Env) {
			errs.add(where+".env", "%q is not an environment variable name", t.Env)
		} else if j, dup := envs[t.Env]; dup {
			errs.add(where+".env", "%q is already tokens[%d]; hosts sharing a secret share its slot", t.Env, j)
		} else {
			envs[t.Env] = i
		}
		if len(t.Hosts) == 0 {
			errs.add(where+".hosts", "empty; a secret must be bound to the hosts that use it")
		}
		for k, h := range t.Hosts {
			field := fmt.Sprintf("%s.hosts[%d]", where, k)
			ri, ok := p.hosts[h]
			switch {
			case slices.Index(t.Hosts, h) < k:
				errs.add(field, "%q is listed twice", h)
			case !ok:
				errs.add(field, "%q has no route", h)
			case p.Routes[ri].Auth == nil || p.Routes[ri].Auth.Slot != t.Slot:
				errs.add(field, "route %q does not use slot %q", h, t.Slot)
			}
		}
	}
	for i, r := range p.Routes {
		if r.Auth == nil || !tokenSlotRE.MatchString(r.Auth.Slot) {
			continue
		}
		where := fmt.Sprintf("routes[%d].auth.slot", i)
		j, ok := slots[r.Auth.Slot]
		switch {
		case !ok:
			errs.add(where, "%q is not in tokens", r.Auth.Slot)
		case !slices.Contains(p.Tokens[j].Hosts, r.Host):
			errs.add(where, "tokens[%d] (%s) is not bound to host %q", j, r.Auth.Slot, r.Host)
		}
	}
}

// checkHost accepts a lowercase DNS name without a trailing dot, and
// refuses what is not one: a scheme, port, path, wildcard or IP literal,
// or a name whose last label could be read as an IPv4 number.
func checkHost(h string) error {
	switch {
	case h == "":
		return errors.New("empty")
	case strings.Contains(h, "://"):
		return fmt.Errorf("%q must be a bare hostname, without a scheme", h)
	case strings.Contains(h, "*"):
		return fmt.Errorf("%q: wildcards are not supported", h)
	case strings.HasSuffix(h, "."):
		return fmt.Errorf("%q must not end in a dot", h)
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return fmt.Errorf("%q is an IP literal; routes name hosts", h)
	}
	switch {
	case strings.Contains(h, ":"):
		return fmt.Errorf("%q must not carry a port", h)
	case strings.ContainsAny(h, "/?#"):
		return fmt.Errorf("%q must be a bare hostname, without a path", h)
	case h != asciiLower(h):
		return fmt.Errorf("%q must be lowercase", h)
	case len(h) > 253:
		return fmt.Errorf("%q is longer than 253 characters", h)
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return fmt.Errorf("%q is not a DNS name", h)
		}
	}
	if numericTLDRE.MatchString(labels[len(labels)-1]) {
		return fmt.Errorf("%q ends in a numeric label and could be read as an IP address", h)
	}
	return nil
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}
