package manifest

import (
	"encoding/json"
	"fmt"
)

// Pos is a position in a manifest file. Lines and columns are 1-based and
// count from the top of the file, not of the frontmatter block.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.File == "" {
		return ""
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// MarshalText renders p as FILE:LINE:COL.
func (p Pos) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Value is a manifest scalar that remembers whether it was written and where.
// The zero Value is unset; an unset Value holds its type's default.
type Value[T any] struct {
	V   T
	Set bool
	At  Pos
}

func set[T any](v T, at Pos) Value[T] { return Value[T]{V: v, Set: true, At: at} }

// Or returns v.V when set and def otherwise.
func (v Value[T]) Or(def T) T {
	if v.Set {
		return v.V
	}
	return def
}

// over returns v when it is set and base otherwise: the merge rule for scalars.
func (v Value[T]) over(base Value[T]) Value[T] {
	if v.Set {
		return v
	}
	return base
}

// MarshalJSON renders a set value as {"value": V, "from": "FILE:LINE:COL"}
// and an unset one as null, so that plan output carries provenance.
func (v Value[T]) MarshalJSON() ([]byte, error) {
	if !v.Set {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		V    T   `json:"value"`
		From Pos `json:"from"`
	}{v.V, v.At})
}

// Kind says whether a manifest file defines a bottle or an agent.
type Kind int

// Kinds.
const (
	KindBottle Kind = iota + 1
	KindAgent
)

func (k Kind) String() string {
	switch k {
	case KindBottle:
		return "bottle"
	case KindAgent:
		return "agent"
	}
	return "unknown"
}

// Provider templates.
const (
	TemplateClaude = "claude"
	TemplateCodex  = "codex"
	TemplatePi     = "pi"
	TemplateShell  = "shell"
)

// Templates lists the built-in agent provider templates.
var Templates = []string{TemplateClaude, TemplateCodex, TemplatePi, TemplateShell}

// Route roles wire a provider's login flow to a route.
const (
	RoleClaudeCodeOAuth = "claude_code_oauth"
	RoleCodexHostAuth   = "codex_host_auth"
	// RoleAnthropicAPIKey gives Claude Code a placeholder API key; its
	// route injects the real one with auth: {header: x-api-key, ...}.
	RoleAnthropicAPIKey = "anthropic_api_key" //nolint:gosec // G101: a role name, not a credential.
)

// Roles lists the known route roles.
var Roles = []string{RoleClaudeCodeOAuth, RoleCodexHostAuth, RoleAnthropicAPIKey}

// Detector names.
const (
	DetectorTokenPatterns  = "token_patterns"
	DetectorKnownSecrets   = "known_secrets"
	DetectorEntropy        = "entropy"
	DetectorNaiveInjection = "naive_injection_detection"
	OnMatchSupervise       = "supervise"
	OnMatchRedact          = "redact"
	OnMatchBlock           = "block"
	DefaultOutboundOnMatch = OnMatchSupervise
	WorkspaceMount         = "mount"
	WorkspaceCopy          = "copy"
	WorkspaceNone          = "none"
	DefaultWorkspacePath   = "/workspace"
	KeyProviderStatic      = "static"
	KeyProviderGitea       = "gitea"
	PathPrefix             = "prefix"
	PathExact              = "exact"
	PathRegex              = "regex"
	HeaderExact            = "exact"
	HeaderRegex            = "regex"
	AuthSchemeBearer       = "Bearer"
	AuthSchemeToken        = "token"
	AuthHeaderDefault      = "Authorization"
	AuthHeaderAPIKey       = "X-Api-Key" //nolint:gosec // G101: a header name, not a credential.
	EgressLogOff           = 0
	EgressLogBlocks        = 1
	EgressLogFull          = 2
	DefaultTemplate        = TemplateClaude
	DefaultWorkspaceMode   = WorkspaceMount
	// DefaultWorkspaceProtect is workspace.protect when no bottle sets it.
	DefaultWorkspaceProtect = true
)

// Default detector sets, used when a route does not name its own.
var (
	DefaultOutboundDetectors = []string{DetectorTokenPatterns, DetectorKnownSecrets}
	DefaultInboundDetectors  = []string{DetectorNaiveInjection}
	OutboundDetectors        = []string{DetectorTokenPatterns, DetectorKnownSecrets, DetectorEntropy}
	InboundDetectors         = []string{DetectorNaiveInjection}
	DefaultProtectedPaths    = []string{".github/workflows/**", ".gitlab-ci.yml", ".git/hooks/**"}
)

// EnvMode says where an env value comes from.
type EnvMode int

const (
	// EnvLiteral is a value written in the manifest.
	EnvLiteral EnvMode = iota + 1
	// EnvHost is "${NAME}": read from the host environment at launch.
	EnvHost
	// EnvPrompt is "?" or "?message": asked for at launch, never echoed.
	EnvPrompt
)

func (m EnvMode) String() string {
	switch m {
	case EnvLiteral:
		return "literal"
	case EnvHost:
		return "host"
	case EnvPrompt:
		return "prompt"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (m EnvMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// EnvValue is one env entry's value. Only literals carry their text; host
// and prompted values are secret and are resolved at launch.
type EnvValue struct {
	Mode    EnvMode `json:"mode"`
	Literal string  `json:"literal,omitempty"`
	HostVar string  `json:"host_var,omitempty"`
	Prompt  string  `json:"prompt,omitempty"`
}

// String renders the value as it would be written in a manifest. It never
// holds a secret: host and prompted values render as their reference.
func (e EnvValue) String() string {
	switch e.Mode {
	case EnvHost:
		return "${" + e.HostVar + "}"
	case EnvPrompt:
		return "?" + e.Prompt
	case EnvLiteral:
	}
	return e.Literal
}

// EnvVar is one entry of a bottle's env.
type EnvVar struct {
	Name  string   `json:"name"`
	Value EnvValue `json:"value"`
	At    Pos      `json:"from"`
}

// Provider is a bottle's agent_provider block.
type Provider struct {
	Template               Value[string]      `json:"template"`
	Dockerfile             Value[string]      `json:"dockerfile"`
	Settings               Value[*PiSettings] `json:"settings"`
	ForwardHostCredentials Value[bool]        `json:"forward_host_credentials"`
	AuthToken              Value[string]      `json:"auth_token"`
	// CLIVersion pins the version of the template's agent CLI (its npm
	// package) the image installs; unset is the version bot-bottle is
	// verified with.
	CLIVersion Value[string] `json:"cli_version,omitzero"`
}

// PiSettings configures the pi provider's model endpoint. It holds no key:
// the model API key is injected by an egress route's auth, like every other
// credential.
type PiSettings struct {
	Provider string   `json:"provider,omitempty"`
	BaseURL  string   `json:"base_url,omitempty"`
	API      string   `json:"api,omitempty"`
	Models   []string `json:"models,omitempty"`
}

// GitUser is the git identity written to the agent's ~/.gitconfig.
type GitUser struct {
	Name  Value[string] `json:"name"`
	Email Value[string] `json:"email"`
}

func (u GitUser) over(base GitUser) GitUser {
	return GitUser{Name: u.Name.over(base.Name), Email: u.Email.over(base.Email)}
}

// GitGate is a bottle's git-gate block.
type GitGate struct {
	User  GitUser `json:"user"`
	Repos []Repo  `json:"repos"`
}

// Repo is one upstream repository served by the git gate.
type Repo struct {
	Name           string          `json:"name"`
	At             Pos             `json:"from"`
	URL            Value[RepoURL]  `json:"url"`
	Key            Value[RepoKey]  `json:"key"`
	HostKey        Value[string]   `json:"host_key"`
	Branches       Value[[]string] `json:"branches"`
	ProtectedPaths Value[[]string] `json:"protected_paths"`
	MaxPushBytes   Value[int64]    `json:"max_push_bytes"`
}

// RepoURL is a parsed ssh://user@host[:port]/path upstream URL.
type RepoURL struct {
	Raw  string `json:"raw"`
	User string `json:"user"`
	Host string `json:"host"`
	Port int    `json:"port"`
	Path string `json:"path"`
}

// RepoKey says where the SSH key that forwards pushes comes from.
type RepoKey struct {
	Provider      string `json:"provider"`
	Path          string `json:"path,omitempty"`
	ForgeTokenEnv string `json:"forge_token_env,omitempty"`
	APIURL        string `json:"api_url,omitempty"`
}

// Egress is a bottle's egress block.
type Egress struct {
	Log    Value[int] `json:"log"`
	Routes []Route    `json:"routes"`
}

// Route allows one upstream host.
type Route struct {
	At       Pos      `json:"from"`
	Host     string   `json:"host"`
	Role     string   `json:"role,omitempty"`
	Auth     *Auth    `json:"auth,omitempty"`
	Matches  []Match  `json:"matches,omitempty"`
	DLP      RouteDLP `json:"dlp"`
	GitFetch bool     `json:"git_fetch,omitempty"`
}

// Auth is the credential the proxy injects on a route. TokenRef names the
// host env var that holds it; the value itself never enters a manifest.
// Header empty means "Authorization: <Scheme> <secret>"; any other header
// (canonical, see CheckAuthHeader) carries the bare secret, and Scheme is
// then empty.
type Auth struct {
	Header   string `json:"header,omitempty"`
	Scheme   string `json:"scheme,omitempty"`
	TokenRef string `json:"token_ref"`
	// At is where token_ref was written.
	At Pos `json:"-"`
}

// Match is one entry of a route's matches list. Entries are ORed; inside
// one entry, paths are ORed, methods are ORed, and paths, methods and each
// header predicate are ANDed. An empty list matches everything.
type Match struct {
	Paths   []PathMatch   `json:"paths,omitempty"`
	Methods []string      `json:"methods,omitempty"`
	Headers []HeaderMatch `json:"headers,omitempty"`
}

// PathMatch matches a request path.
type PathMatch struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// HeaderMatch matches one request header.
type HeaderMatch struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type"`
}

// RouteDLP holds a route's resolved DLP settings: defaults are applied, so
// an empty detector list means the direction is off.
type RouteDLP struct {
	Outbound []string `json:"outbound_detectors"`
	Inbound  []string `json:"inbound_detectors"`
	OnMatch  string   `json:"outbound_on_match"`
}

// Resources limits a bottle's compute.
type Resources struct {
	MilliCPUs Value[int64] `json:"millicpus"`
	Memory    Value[int64] `json:"memory_bytes"`
	Pids      Value[int64] `json:"pids"`
}

// Workspace says how the working tree enters the bottle.
type Workspace struct {
	Mode Value[string] `json:"mode"`
	Path Value[string] `json:"path"`
	// Protect makes the paths host tools read or run (.git/config,
	// .git/hooks, .bot-bottle, ...) read-only in a mounted workspace.
	Protect Value[bool] `json:"protect"`
}

// Bottle is a bottle manifest, either as written in one file or resolved
// (parents folded in). Bottles are the security boundary.
type Bottle struct {
	Name string `json:"name"`
	// File is the manifest's path. A resolved bottle names its own file; a
	// merged runtime bottle has none.
	File string `json:"file,omitempty"`
	// Chain lists the bottles folded into this one, in fold order, ending
	// with this bottle itself. It is empty before resolution.
	Chain     []string        `json:"chain,omitempty"`
	Extends   []Value[string] `json:"extends,omitempty"`
	Env       []EnvVar        `json:"env"`
	Provider  Provider        `json:"agent_provider"`
	GitGate   GitGate         `json:"git_gate"`
	Egress    Egress          `json:"egress"`
	Resources Resources       `json:"resources"`
	Workspace Workspace       `json:"workspace"`
	// MCPServers are given to the agent CLI besides bot-bottle's own.
	MCPServers []MCPServer `json:"mcp_servers,omitempty"`
	// Doc is the Markdown body: documentation, ignored by bot-bottle.
	Doc string `json:"-"`

	// envClear, reposClear, routesClear and mcpClear record an explicit
	// empty value, which clears what parents set.
	envClear, reposClear, routesClear, mcpClear bool
}

// Agent is an agent manifest: the purpose of a run.
type Agent struct {
	Name    string          `json:"name"`
	File    string          `json:"file"`
	Bottle  Value[string]   `json:"bottle"`
	Skills  []Value[string] `json:"skills"`
	GitUser GitUser         `json:"git_user"`
	// Model is the model the agent CLI starts with; unset leaves the
	// CLI's default.
	Model Value[string] `json:"model"`
	// Color is the default color of the bottle's label (one of
	// LabelColors).
	Color Value[string] `json:"color"`
	// Prompt is the trimmed Markdown body, the agent's system prompt.
	Prompt string `json:"prompt"`
}

// Resolved is what a launch runs: one agent and the bottle that results from
// folding the chosen bottles in order.
type Resolved struct {
	Agent   *Agent   `json:"agent"`
	Bottles []string `json:"bottles"`
	Bottle  *Bottle  `json:"bottle"`
	// GitUser is the bottle's git user overlaid field by field by the agent's.
	GitUser GitUser `json:"git_user"`
}
