// Package policy is the compiled egress and git-gate policy that the host
// hands a bottle's sidecar, and the pure decisions the sidecar takes over it.
//
// The host compiles a resolved manifest with Compile and writes the Policy
// as versioned JSON; the sidecar reads it back with Parse, which trusts
// nothing and validates the whole document again. Lookup and Allows answer
// "may this request go out"; CleanPath puts a request path in the one form
// those answers are defined on.
//
// Security: a Policy names secrets and never holds them. It carries the
// names of host environment variables and of key slots, never a credential,
// a key path or a token value. This package must never do I/O: no files, no
// environment, no network, no clock. That is what lets it be tested
// exhaustively and fuzzed.
package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// Version is the policy format this package writes and the only one Parse
// accepts.
const Version = 1

// Slot name prefixes. A slot is the name under which the host hands the
// sidecar one secret.
//
//nolint:gosec // G101: slot name prefixes, not credentials.
const (
	TokenSlotPrefix = "EGRESS_TOKEN_"
	KeySlotPrefix   = "GIT_KEY_"
)

// Policy is one bottle's compiled policy. Obtain it from Compile or Parse,
// which validate it and prepare its matchers; a Policy built by hand denies
// every host. It must not be modified afterwards, and is then safe for
// concurrent use.
type Policy struct {
	Version int    `json:"version"`
	Bottle  string `json:"bottle"`
	// Log is the egress log level: 0 off, 1 blocks, 2 everything.
	Log    int         `json:"log"`
	Routes []Route     `json:"routes"`
	Tokens []TokenSlot `json:"tokens"`
	// GitGate is nil when the bottle declares no repository and no git user.
	GitGate *GitGate `json:"git_gate,omitempty"`
	// Quiet are hosts the agent CLI is known to call for telemetry or
	// updates: refused like every host without a route, but after the
	// first refusal of each, the proxy counts them instead of logging
	// each one (WithQuiet). A route for one (a grant) wins.
	Quiet []string `json:"quiet,omitempty"`

	// hosts maps a route host to its index in Routes; prepare builds it.
	hosts map[string]int
}

// Route allows one upstream host.
type Route struct {
	// Host is a lowercase DNS name without a trailing dot.
	Host string `json:"host"`
	Role string `json:"role,omitempty"`
	// Auth is the credential the proxy injects, or nil for none.
	Auth *Auth `json:"auth,omitempty"`
	// Matches restricts the requests allowed on Host; see Allows.
	Matches  []Match `json:"matches,omitempty"`
	DLP      DLP     `json:"dlp"`
	GitFetch bool    `json:"git_fetch"`

	// matchers holds Matches compiled, one per entry; prepare builds it.
	matchers []matcher
	// grantIDs names, per entry of Matches, the GrantMatch that added it
	// ("" for the route's own); WithGrants sets it.
	grantIDs []string
}

// Auth says which secret the proxy injects on a route, and how. With no
// Header it is "Authorization: <Scheme> <secret in Slot>"; with a Header
// (canonical, never Authorization) it is "<Header>: <secret in Slot>" and
// Scheme is empty. A document written before Header existed means
// Authorization, as it did then.
//
// Security: on a route with auth, the proxy strips every value the agent
// sent in Authorization, Proxy-Authorization and Header before injecting.
type Auth struct {
	Header string `json:"header,omitempty"`
	Scheme string `json:"scheme,omitempty"`
	Slot   string `json:"slot"`
}

// HeaderName is the header the credential goes in.
func (a *Auth) HeaderName() string {
	if a.Header == "" {
		return manifest.AuthHeaderDefault
	}
	return a.Header
}

// Value is the header value that carries secret.
func (a *Auth) Value(secret string) string {
	if a.Header == "" {
		return a.Scheme + " " + secret
	}
	return secret
}

// Form says how the credential is sent, for people: "Bearer" for the
// Authorization header, "X-Api-Key header" for another.
func (a *Auth) Form() string {
	if a.Header == "" {
		return a.Scheme
	}
	return a.Header + " header"
}

// Match is one entry of a route's matches list. See Route.Allows.
type Match struct {
	Paths   []PathMatch   `json:"paths,omitempty"`
	Methods []string      `json:"methods,omitempty"`
	Headers []HeaderMatch `json:"headers,omitempty"`
}

// PathMatch matches a request path; Type is prefix, exact or regex.
type PathMatch struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// HeaderMatch matches one request header; Type is exact or regex.
type HeaderMatch struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type"`
}

// DLP is a route's data loss prevention. An empty detector list turns that
// direction off; a missing one is an error, so that a truncated document
// cannot turn DLP off.
type DLP struct {
	Outbound []string `json:"outbound"`
	Inbound  []string `json:"inbound"`
	OnMatch  string   `json:"on_match"`
}

// TokenSlot binds one host secret to the hosts it may be sent to.
//
// Security: the secret in Slot belongs to Hosts only; the proxy refuses it
// anywhere else. Env is the name of the host variable the host reads it
// from, never its value.
type TokenSlot struct {
	Slot  string   `json:"slot"`
	Env   string   `json:"env"`
	Hosts []string `json:"hosts"`
}

// GitGate is the policy of the git gate.
type GitGate struct {
	User  *GitUser `json:"user,omitempty"`
	Repos []Repo   `json:"repos"`
}

// GitUser is the git identity given to the agent.
type GitUser struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Repo is one upstream repository served by the git gate.
type Repo struct {
	Name string `json:"name"`
	// URL is the upstream as written, ssh://user@host[:port]/path; User,
	// Host, Port and Path are its parts and must agree with it.
	URL  string `json:"url"`
	User string `json:"user"`
	Host string `json:"host"`
	Port int    `json:"port"`
	Path string `json:"path"`
	// HostKey pins the upstream's SSH host key ("TYPE BASE64"). Empty
	// means pushes are not forwarded.
	HostKey string  `json:"host_key"`
	Key     RepoKey `json:"key"`
	// Branches lists the branch patterns the agent may push. Nil means
	// the gate's default, every branch but the upstream's default branch;
	// an empty list allows none.
	Branches []string `json:"branches,omitzero"`
	// ProtectedPaths lists the path patterns a push may not touch.
	ProtectedPaths []string `json:"protected_paths"`
	// MaxPushBytes caps a push's size; 0 is unlimited.
	MaxPushBytes int64 `json:"max_push_bytes,omitempty"`
}

// RepoKey says where the SSH key that forwards pushes comes from: the
// provider that made it and the slot the host hands it in.
type RepoKey struct {
	Provider string `json:"provider"`
	Slot     string `json:"slot"`
}

// Lookup returns the route for host. Host matching is exact and ignores
// ASCII case and one trailing dot; there are no wildcards, and a name that
// is not ASCII never matches.
func (p *Policy) Lookup(host string) (*Route, bool) {
	i, ok := p.hosts[asciiLower(strings.TrimSuffix(host, "."))]
	if !ok {
		return nil, false
	}
	return &p.Routes[i], true
}

// Token returns the token slot named slot.
func (p *Policy) Token(slot string) (*TokenSlot, bool) {
	for i := range p.Tokens {
		if p.Tokens[i].Slot == slot {
			return &p.Tokens[i], true
		}
	}
	return nil, false
}

// asciiLower lowercases ASCII letters only and leaves every other byte
// alone, so that no Unicode case folding (the Kelvin sign folds to k) can
// make a foreign name equal an allowed one.
func asciiLower(s string) string { return asciiMap(s, 'A', 'Z', 'a'-'A') }

// asciiUpper uppercases ASCII letters only and leaves every other byte alone.
func asciiUpper(s string) string { return asciiMap(s, 'a', 'z', 'A'-'a') }

func asciiMap(s string, lo, hi byte, delta int) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if c := s[i]; lo <= c && c <= hi {
			if b == nil {
				b = []byte(s)
			}
			b[i] = byte(int(c) + delta) //nolint:gosec // G115: c is an ASCII letter, so c+delta stays a letter.
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// WithQuiet sets p's quiet hosts (see Policy.Quiet) to hosts, less those
// p routes, sorted: a routed host is never quiet.
func (p *Policy) WithQuiet(hosts []string) error {
	var q []string
	for _, h := range hosts {
		if _, routed := p.Lookup(h); routed || slices.Contains(q, h) {
			continue
		}
		if err := checkHost(h); err != nil {
			return fmt.Errorf("quiet host: %w", err)
		}
		q = append(q, h)
	}
	slices.Sort(q)
	p.Quiet = q
	return nil
}

// IsQuiet reports whether host is one of p's quiet hosts.
func (p *Policy) IsQuiet(host string) bool { return slices.Contains(p.Quiet, host) }
