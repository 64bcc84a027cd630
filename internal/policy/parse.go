package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

var (
	labelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	tokenRE  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	slotRE   = regexp.MustCompile(`^EGRESS_TOKEN_[0-9]+$`)
	keyRE    = regexp.MustCompile(`^GIT_KEY_[0-9]+$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	onMatchs = []string{manifest.OnMatchSupervise, manifest.OnMatchRedact, manifest.OnMatchBlock}
)

// Parse reads a policy document strictly: unknown fields, trailing data and
// unsupported versions are errors, and every value is validated again.
func Parse(data []byte) (*Policy, error) {
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("parsing policy: %w", err)
	}
	if head.Version != Version {
		return nil, fmt.Errorf("policy version %d is not supported (supported: %d)", head.Version, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("parsing policy: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parsing policy: trailing data after the document")
	}
	if err := p.prepare(); err != nil {
		return nil, fmt.Errorf("invalid policy: %w", err)
	}
	return &p, nil
}

// prepare validates p and compiles its matchers and host index.
func (p *Policy) prepare() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if p.Log < manifest.EgressLogOff || p.Log > manifest.EgressLogFull {
		bad("log %d is not 0, 1 or 2", p.Log)
	}
	if p.Routes == nil {
		p.Routes = []Route{}
	}
	if p.Tokens == nil {
		p.Tokens = []TokenSlot{}
	}
	slots := map[string]bool{}
	for _, t := range p.Tokens {
		if !slotRE.MatchString(t.Slot) || slots[t.Slot] {
			bad("token slot %q is malformed or repeated", t.Slot)
		}
		slots[t.Slot] = true
		if !envRE.MatchString(t.Env) {
			bad("token slot %s: env %q is not a variable name", t.Slot, t.Env)
		}
	}
	p.byHost = make(map[string]*Route, len(p.Routes))
	for i := range p.Routes {
		r := &p.Routes[i]
		if err := checkHost(r.Host); err != nil {
			bad("route %d: %v", i, err)
			continue
		}
		if p.byHost[r.Host] != nil {
			bad("route %d: host %s is routed twice", i, r.Host)
		}
		p.byHost[r.Host] = r
		if r.Role != "" && !slices.Contains(manifest.Roles, r.Role) {
			bad("route %s: unknown role %q", r.Host, r.Role)
		}
		if a := r.Auth; a != nil {
			if a.Scheme != manifest.AuthSchemeBearer && a.Scheme != manifest.AuthSchemeToken {
				bad("route %s: auth scheme %q is not Bearer or token", r.Host, a.Scheme)
			}
			if !slots[a.Slot] {
				bad("route %s: auth slot %q is not among the tokens", r.Host, a.Slot)
			}
		}
		for _, d := range r.DLP.Outbound {
			if !slices.Contains(manifest.OutboundDetectors, d) {
				bad("route %s: unknown outbound detector %q", r.Host, d)
			}
		}
		for _, d := range r.DLP.Inbound {
			if !slices.Contains(manifest.InboundDetectors, d) {
				bad("route %s: unknown inbound detector %q", r.Host, d)
			}
		}
		if !slices.Contains(onMatchs, r.DLP.OnMatch) {
			bad("route %s: on_match %q is not supervise, redact or block", r.Host, r.DLP.OnMatch)
		}
		for j := range r.Matches {
			if err := r.Matches[j].prepare(); err != nil {
				bad("route %s: match %d: %v", r.Host, j, err)
			}
		}
	}
	if g := p.GitGate; g != nil {
		names := map[string]bool{}
		for _, rp := range g.Repos {
			if rp.Name == "" || names[rp.Name] {
				bad("git_gate: repo name %q is empty or repeated", rp.Name)
			}
			names[rp.Name] = true
			if rp.Host == "" || rp.User == "" || rp.Port < 1 || rp.Port > 65535 || !strings.HasPrefix(rp.Path, "/") {
				bad("git_gate: repo %s: incomplete upstream address", rp.Name)
			}
			if !keyRE.MatchString(rp.Key.Slot) || (rp.Key.Provider != manifest.KeyProviderStatic && rp.Key.Provider != manifest.KeyProviderGitea) {
				bad("git_gate: repo %s: malformed key", rp.Name)
			}
			if rp.MaxPushBytes < 0 {
				bad("git_gate: repo %s: negative max_push_bytes", rp.Name)
			}
		}
	}
	return errors.Join(errs...)
}

func (m *Match) prepare() error {
	if len(m.Paths) == 0 && len(m.Methods) == 0 && len(m.Headers) == 0 {
		return errors.New("empty match")
	}
	for i := range m.Paths {
		pm := &m.Paths[i]
		switch pm.Type {
		case manifest.PathPrefix, manifest.PathExact:
			if !strings.HasPrefix(pm.Value, "/") {
				return fmt.Errorf("path %q does not start with /", pm.Value)
			}
		case manifest.PathRegex:
			re, err := regexp.Compile("^(?:" + pm.Value + ")$")
			if err != nil {
				return fmt.Errorf("path regex %q: %w", pm.Value, err)
			}
			pm.re = re
		default:
			return fmt.Errorf("path type %q is not prefix, exact or regex", pm.Type)
		}
	}
	for _, meth := range m.Methods {
		if !tokenRE.MatchString(meth) || strings.ToUpper(meth) != meth {
			return fmt.Errorf("method %q is not an uppercase token", meth)
		}
	}
	for i := range m.Headers {
		hm := &m.Headers[i]
		if !tokenRE.MatchString(hm.Name) || http.CanonicalHeaderKey(hm.Name) != hm.Name {
			return fmt.Errorf("header name %q is not canonical", hm.Name)
		}
		switch hm.Type {
		case manifest.HeaderExact:
		case manifest.HeaderRegex:
			re, err := regexp.Compile("^(?:" + hm.Value + ")$")
			if err != nil {
				return fmt.Errorf("header regex %q: %w", hm.Value, err)
			}
			hm.re = re
		default:
			return fmt.Errorf("header type %q is not exact or regex", hm.Type)
		}
	}
	return nil
}

// checkHost accepts a lowercase DNS name that is not an IP literal.
func checkHost(h string) error {
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return fmt.Errorf("host %q is an IP literal", h)
	}
	if h == "" || len(h) > 253 {
		return fmt.Errorf("host %q is empty or too long", h)
	}
	for _, l := range strings.Split(h, ".") {
		if !labelRE.MatchString(l) {
			return fmt.Errorf("host %q is not a lowercase DNS name", h)
		}
	}
	return nil
}
