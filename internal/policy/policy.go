// Package policy is the compiled, versioned document the host hands a
// bottle's sidecar, and the pure decisions made over it (which route serves
// a host, whether a request matches it). It does no I/O.
//
// A Policy never holds a secret: credentials appear as slots naming the
// host variable the value comes from, and the sidecar receives the values
// out of band. Parse trusts nothing: it re-validates every field.
package policy

import "regexp"

// Version is the policy document version this binary writes and reads.
const Version = 1

// Policy is what a sidecar enforces for one bottle.
type Policy struct {
	Version int    `json:"version"`
	Bottle  string `json:"bottle"`
	// Log is the egress log level: 0 off, 1 blocks, 2 full.
	Log    int         `json:"log"`
	Routes []Route     `json:"routes"`
	Tokens []TokenSlot `json:"tokens"`
	// GitGate is nil when the bottle declares no repositories.
	GitGate *GitGate `json:"git_gate,omitempty"`

	byHost map[string]*Route
}

// Route allows one host.
type Route struct {
	Host     string  `json:"host"`
	Role     string  `json:"role,omitempty"`
	Auth     *Auth   `json:"auth,omitempty"`
	Matches  []Match `json:"matches,omitempty"`
	DLP      DLP     `json:"dlp"`
	GitFetch bool    `json:"git_fetch"`
}

// Auth is the credential injected on a route: "Authorization: Scheme
// <value of Slot>".
type Auth struct {
	Scheme string `json:"scheme"`
	Slot   string `json:"slot"`
}

// Match is one entry of a route's matches; see Route.Allows.
type Match struct {
	Paths   []PathMatch   `json:"paths,omitempty"`
	Methods []string      `json:"methods,omitempty"`
	Headers []HeaderMatch `json:"headers,omitempty"`
}

// PathMatch matches the request path by prefix, exact value or regex.
type PathMatch struct {
	Type  string `json:"type"`
	Value string `json:"value"`

	re *regexp.Regexp
}

// HeaderMatch matches one request header exactly or by regex.
type HeaderMatch struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type"`

	re *regexp.Regexp
}

// DLP holds a route's detectors; an empty list turns a direction off.
type DLP struct {
	Outbound []string `json:"outbound"`
	Inbound  []string `json:"inbound"`
	OnMatch  string   `json:"on_match"`
}

// TokenSlot is a credential the sidecar receives in the environment
// variable named Slot. Env names the host variable it is read from at
// start. The secret is bound to Hosts: sent anywhere else it is refused.
type TokenSlot struct {
	Slot  string   `json:"slot"`
	Env   string   `json:"env"`
	Hosts []string `json:"hosts"`
}

// GitGate is the git gate's configuration.
type GitGate struct {
	User  *GitUser `json:"user,omitempty"`
	Repos []Repo   `json:"repos"`
}

// GitUser is the identity written to the agent's git config.
type GitUser struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Repo is an upstream served by the gate.
type Repo struct {
	Name    string  `json:"name"`
	URL     string  `json:"url"`
	User    string  `json:"user"`
	Host    string  `json:"host"`
	Port    int     `json:"port"`
	Path    string  `json:"path"`
	HostKey string  `json:"host_key,omitempty"`
	Key     RepoKey `json:"key"`
	// Branches the agent may push; empty means every branch but the
	// upstream's default branch.
	Branches       []string `json:"branches,omitempty"`
	ProtectedPaths []string `json:"protected_paths"`
	// MaxPushBytes bounds a push; 0 means no bound.
	MaxPushBytes int64 `json:"max_push_bytes,omitempty"`
}

// RepoKey names the slot holding the SSH private key that forwards pushes.
type RepoKey struct {
	Provider string `json:"provider"`
	Slot     string `json:"slot"`
}
