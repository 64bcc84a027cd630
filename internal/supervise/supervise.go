// Package supervise is the operator's say over a running bottle: the
// proposals a bottle raises (a route the agent asks for over MCP, a
// request outbound DLP held, a push whose findings are all marked
// gitleaks:allow), the operator's decisions on them, and the grants those
// decisions put in force.
//
// Proposals live in the bottle's sidecar, which alone raises them and
// alone applies a decision; the host lists and decides them over the
// control channel. Nothing the bottle can reach decides: the agent's side
// (Agent) can ask, wait and read, never approve.
//
// Security: text the agent wrote (a reason, a path, a host) is untrusted.
// It is carried as data and shown escaped (see Escape), never interpreted;
// risk flags come from facts the sidecar controls, never from that text.
package supervise

import (
	"context"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// Kind is what a proposal asks for.
type Kind string

// Kinds.
const (
	// KindRoute is a new or wider route the agent asked for.
	KindRoute Kind = "route"
	// KindDLPHold is one request outbound DLP held on a route whose
	// outbound_on_match is supervise; approving releases that request.
	KindDLPHold Kind = "dlp-hold"
	// KindGitleaksAllow is one push whose findings are all marked
	// gitleaks:allow; approving forwards that push.
	KindGitleaksAllow Kind = "gitleaks-allow"
)

// Status is where a proposal stands.
type Status string

// Statuses. Pending is the only one that changes.
const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusModified Status = "modified"
	StatusRejected Status = "rejected"
	StatusExpired  Status = "expired"
)

// Decided reports whether s is final.
func (s Status) Decided() bool { return s != StatusPending && s != "" }

// Granted reports whether s lets the proposal through.
func (s Status) Granted() bool { return s == StatusApproved || s == StatusModified }

// MaxPending is how many undecided proposals a bottle may hold at once;
// the agent's further requests are refused with a reason.
const MaxPending = 8

// DefaultTimeout is how long a proposal waits for a decision before it
// expires, failing closed, unless the bottle says otherwise.
const DefaultTimeout = 30 * time.Minute

// WaitMax is the longest one agent call waits for a decision: agent CLIs
// give up on longer tool calls. ProgressEvery is how often a waiting call
// tells the client it is alive.
const (
	WaitMax       = 90 * time.Second
	ProgressEvery = 15 * time.Second
)

// PathSpec is one path of a route request: Type is prefix, exact or
// regex, as in a manifest.
type PathSpec struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// RouteRequest is request_route's arguments: a route on Host allowing
// Paths (none: every path) and Methods (none: every method). It never
// names a credential.
type RouteRequest struct {
	Host    string     `json:"host"`
	Paths   []PathSpec `json:"paths,omitempty"`
	Methods []string   `json:"methods,omitempty"`
	Reason  string     `json:"reason,omitempty"`
}

// Hold is what a dlp-hold proposal shows: the held request, with the
// match redacted, where it matched and which rules.
type Hold struct {
	Host   string `json:"host"`
	Method string `json:"method"`
	// Path is the request path with every match replaced by a marker.
	Path string `json:"path"`
	// Where lists the surfaces that matched ("body", "header authorization").
	Where []string `json:"where"`
	// Rules lists the detectors and rules that matched.
	Rules []string `json:"rules"`
}

// Push is what a gitleaks-allow proposal shows.
type Push struct {
	Repo     string         `json:"repo"`
	Refs     []string       `json:"refs"`
	Findings []AllowFinding `json:"findings"`
}

// AllowFinding is one finding marked gitleaks:allow.
type AllowFinding struct {
	Commit string `json:"commit"`
	File   string `json:"file"`
	Line   int    `json:"line"`
	Rule   string `json:"rule"`
	// Reason is the text after the marker, the author's justification
	// (untrusted).
	Reason string `json:"reason,omitempty"`
}

// Risk codes. Each comes from a fact the sidecar controls.
const (
	// RiskPrivateAddress: the host resolves (or is pinned) to a private,
	// loopback or link-local address.
	RiskPrivateAddress = "private-address"
	// RiskMatchAll: a path pattern that matches every path.
	RiskMatchAll = "match-all"
	// RiskCredentialReach: the host already carries a credential, so
	// wider paths or methods extend that credential's reach.
	RiskCredentialReach = "credential-reach" //nolint:gosec // G101: a risk code, not a credential.
	// RiskWriteMethod: the route allows a method that writes.
	RiskWriteMethod = "write-method"
	// RiskDLPRefused: outbound DLP has refused this bottle on this host
	// before.
	RiskDLPRefused = "dlp-refused-before"
)

// Risk is one risk flag of a proposal.
type Risk struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// DiffLine is one line of the authority a proposal adds or removes
// against the bottle's current policy: Op is "+", "-" or "~" (see
// policy.Op).
type DiffLine struct {
	Op   string `json:"op"`
	Text string `json:"text"`
}

// Lifetime bounds a grant. Once means this request only (one use); TTL
// and Uses bound it in time and in uses; all zero is the bottle's life.
type Lifetime struct {
	Once bool          `json:"once,omitempty"`
	TTL  time.Duration `json:"ttl,omitempty"`
	Uses int           `json:"uses,omitempty"`
}

// Verdict is the operator's decision, as the host sends it.
type Verdict struct {
	Approve bool `json:"approve"`
	// Route, when set on an approval of a route proposal, replaces the
	// proposed route (modify); its Reason is ignored.
	Route    *RouteRequest `json:"route,omitempty"`
	Lifetime Lifetime      `json:"lifetime"`
	Notes    string        `json:"notes,omitempty"`
	// Reason is why a rejection rejects; required on rejection.
	Reason string `json:"reason,omitempty"`
	// By names the operator (user@host).
	By string `json:"by"`
}

// Decision is a proposal's outcome.
type Decision struct {
	Status   Status    `json:"status"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at"`
	Notes    string    `json:"notes,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Lifetime Lifetime  `json:"lifetime"`
}

// Proposal is one request for the operator's decision.
type Proposal struct {
	ID     string `json:"id"`
	Bottle string `json:"bottle"`
	Kind   Kind   `json:"kind"`
	Status Status `json:"status"`
	// Created is when the sidecar raised it; Deadline is when a pending
	// proposal expires.
	Created  time.Time `json:"created"`
	Deadline time.Time `json:"deadline"`
	// Summary is one line built by the sidecar.
	Summary string `json:"summary"`
	// Reason is the agent's reason for a route request (untrusted).
	Reason string `json:"reason,omitempty"`
	// Route is, for KindRoute, the route the approval grants: the
	// request as validated, or as the operator modified it.
	Route *RouteRequest `json:"route,omitempty"`
	Hold  *Hold         `json:"hold,omitempty"`
	Push  *Push         `json:"push,omitempty"`
	Risks []Risk        `json:"risks,omitempty"`
	// Diff is the authority approving adds against the policy in force
	// when the proposal was raised (or modified).
	Diff     []DiffLine `json:"diff,omitempty"`
	Decision *Decision  `json:"decision,omitempty"`
}

// Grant is a route change in force because of an approval.
type Grant struct {
	// ID is the proposal's.
	ID    string       `json:"id"`
	Host  string       `json:"host"`
	Match policy.Match `json:"match"`
	// Expires is zero for none; UsesLeft is 0 for unlimited.
	Expires  time.Time `json:"expires,omitzero"`
	UsesLeft int       `json:"uses_left,omitempty"`
}

// Block is one recent refusal as recent_blocks shows it, with the
// request_route arguments that would allow it where a route change could.
type Block struct {
	Time   time.Time     `json:"time"`
	Method string        `json:"method"`
	Host   string        `json:"host"`
	Path   string        `json:"path"`
	Rule   string        `json:"rule"`
	Reason string        `json:"reason"`
	Ask    *RouteRequest `json:"request_route,omitempty"`
}

// Routes is what list_routes shows: the effective routes, without
// secrets, and the grants in force.
type Routes struct {
	Bottle string `json:"bottle"`
	// Routes are the routes as the agent may see them (no slot, no
	// secret; a credential is named by its scheme only).
	Routes []RouteView `json:"routes"`
	Grants []Grant     `json:"grants"`
}

// RouteView is a route without secrets.
type RouteView struct {
	Host    string         `json:"host"`
	Auth    string         `json:"auth,omitempty"`
	Matches []policy.Match `json:"matches,omitempty"`
}

// Agent is what the bottle's MCP server offers the agent. Errors are
// meant for the agent: they say why and what to do next.
type Agent interface {
	// RequestRoute raises a route proposal (or returns an error when the
	// request is invalid, adds nothing, or the bottle holds MaxPending).
	RequestRoute(ctx context.Context, req RouteRequest) (Proposal, error)
	// Wait waits up to limit for proposal id of this bottle to be decided,
	// calling progress about every ProgressEvery, and returns it as it
	// then stands (pending when undecided).
	Wait(ctx context.Context, id string, limit time.Duration, progress func(waited time.Duration)) (Proposal, error)
	Routes() Routes
	RecentBlocks() []Block
}

// Holder holds a request or a push for the operator: Hold raises p (kind
// dlp-hold or gitleaks-allow) and blocks until it is decided, expires or
// ctx ends, and returns its decision. Anything but a granted status, an
// error included, means refuse.
type Holder interface {
	Hold(ctx context.Context, p Proposal) (Decision, error)
}

// Operator is the host's view of every running bottle's proposals.
type Operator interface {
	// List returns every proposal of every reachable bottle: pending ones
	// and those decided recently, oldest first.
	List(ctx context.Context) ([]Proposal, error)
	// Decide decides proposal id (an ID as List returns it).
	Decide(ctx context.Context, id string, v Verdict) (Proposal, error)
}
