// Package provider knows the agent CLIs a bottle can run (claude, codex,
// pi and a plain shell): the image recipe of each, and what goes into a
// bottle at start so that the CLI runs unattended there: its prompt,
// skills, configuration, git identity, environment and command line.
//
// Security: nothing this package produces holds a host credential. Tokens
// the CLIs need are obvious placeholders; the sidecar injects the real ones
// on the wire. Images hold no secret, no CA and nothing per bottle: those
// are Plan files, provisioned at start. The package reads no environment
// variable and no file of its own accord: the host environment, prompts,
// skills and the clock come in through Options.
package provider

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// Home is the agent user's home directory in every bottle.
const Home = "/home/agent"

// AgentUser is the user every provider's CLI runs as. The templates create
// it with these ids.
var AgentUser = backend.User{Name: "agent", UID: 1000, GID: 1000, Home: Home}

// Placeholder is the value of every credential the agent CLI is handed:
// it is not a secret, and the sidecar replaces it on the wire. It is not
// shaped like any vendor's token, so token-pattern DLP does not flag it.
const Placeholder = "bot-bottle-placeholder-injected-by-egress"

// Options is what Provision needs from the host.
type Options struct {
	// Workspace is the working tree's path inside the bottle; "" means the
	// bottle's workspace.path, or manifest.DefaultWorkspacePath.
	Workspace string
	// SkillDirs are searched in order for each of the agent's skills: a
	// skill is a folder <name>/ holding SKILL.md at the root of one of
	// them. The CLI passes $BOT_BOTTLE_HOME/skills then ~/.claude/skills.
	// Links inside a skill are refused; a skill folder that is itself a
	// link is followed as far as the FS allows (os.DirFS anywhere, an
	// os.Root's FS only within its folder).
	SkillDirs []fs.FS
	// Headless runs the provider's one-shot command with HeadlessPrompt
	// instead of its interactive CLI.
	Headless       bool
	HeadlessPrompt string
	// Label is the operator's name for the bottle; a CLI that shows a
	// session name gets it.
	Label string
	// Continue resumes the CLI's last conversation, where it can: the
	// bottle is resumed with the home it kept.
	Continue bool
	// LookupEnv reads the host environment for ${NAME} env values. Nil
	// means an empty environment.
	LookupEnv func(string) (string, bool)
	// Prompt asks the operator for a ?-env value, without echo. message
	// is the text after the ?, possibly empty. Nil fails such values.
	Prompt func(name, message string) (string, error)
	// GitRewrites are url.<base>.insteadOf rules for ~/.gitconfig. The git
	// gate fills them in to send each declared upstream to itself.
	GitRewrites []GitRewrite
	// MCPServers are registered in the CLI's configuration (claude, codex).
	MCPServers []MCPServer
	// CodexLogin shapes the placeholder Codex login of a bottle that
	// forwards the host's Codex credentials; nil gives one that does not
	// expire.
	CodexLogin *CodexLogin
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// GitRewrite is one url.<Base>.insteadOf = <InsteadOf> rule of the agent's
// ~/.gitconfig: git fetches and pushes InsteadOf URLs at Base instead.
type GitRewrite struct {
	Base      string
	InsteadOf string
}

// MCPServer is an MCP server the agent CLI talks to: streamable HTTP at
// URL, or a stdio server the CLI runs in the bottle (Command, Env).
type MCPServer struct {
	Name    string
	URL     string
	Command []string
	Env     map[string]string
}

// The sidecar's MCP server (supervise), which every agent CLI is given:
// the fixed in-bottle name, reached through the proxy on every backend
// ($BOT_BOTTLE_MCP_URL is the same server on the proxy port directly).
const (
	SuperviseMCPName = "bot-bottle"
	SuperviseMCPURL  = "http://_egress.local/mcp"
)

// Tool-call limits written for the CLIs: a supervise call waits at most
// about 90 s and is resumed by id, so these only need to exceed that.
const (
	mcpToolTimeout    = 10 * time.Minute
	mcpStartupTimeout = 20 * time.Second
)

// mcpServers is the bot-bottle server, then the caller's.
func mcpServers(opts *Options) []MCPServer {
	out := []MCPServer{{Name: SuperviseMCPName, URL: SuperviseMCPURL}}
	for _, s := range opts.MCPServers {
		if s.Name != SuperviseMCPName {
			out = append(out, s)
		}
	}
	return out
}

// quietHosts are the hosts each template's CLI calls on its own for
// telemetry, experiments or model lists, and works without: the bottle
// refuses them like any host without a route, and counts them after the
// first refusal instead of logging each (policy.Policy.Quiet). Codex
// 0.171 asks chatgpt.com for its model list some twenty times a run.
var quietHosts = map[string][]string{
	manifest.TemplateCodex: {"ab.chatgpt.com", "chatgpt.com"},
}

// QuietHosts are the hosts template's CLI calls for itself alone (see
// quietHosts).
func QuietHosts(template string) []string { return slices.Clone(quietHosts[template]) }

// Plan is what a bottle needs at start to run its provider's CLI.
type Plan struct {
	// Template is the provider template's name.
	Template string
	User     backend.User
	// Files are provisioned before the CLI starts, owned by the agent
	// user unless Root.
	Files []backend.File
	// Env is the CLI's environment beyond the proxy and CA variables:
	// provider settings and placeholders, then the bottle's env.
	Env []backend.EnvVar
	// Interactive is the CLI's command line for a terminal session.
	Interactive []string
	// Headless is the one-shot command line for Options.HeadlessPrompt,
	// or nil when the run is not headless.
	Headless []string
}

// Command is the command the bottle runs: Headless when set, else
// Interactive.
func (p *Plan) Command() []string {
	if p.Headless != nil {
		return p.Headless
	}
	return p.Interactive
}

// provider describes one template. Paths are relative to Home.
type provider struct {
	// prompt is where the agent's system prompt goes.
	prompt string
	// skills is the folder skills are copied into.
	skills      string
	interactive []string
	headless    func(prompt string) []string
	// name, when set, gives the CLI its session name, and model the
	// model it starts with: flags that go right after the command's name
	// (and, headless, its subcommand).
	name  func(label string) []string
	model func(model string) []string
	// cont continues the CLI's last conversation in the workspace.
	cont []string
	// headlessWords is how many words of headless name the command
	// before its flags (codex exec: 2); 0 means 1.
	headlessWords int
	// configure returns the CLI's own files and environment.
	configure func(c *setup) ([]backend.File, []backend.EnvVar, error)
}

// setup is one Provision call's inputs.
type setup struct {
	r         *manifest.Resolved
	opts      *Options
	workspace string
	now       time.Time
}

var providers = map[string]provider{
	manifest.TemplateClaude: {
		prompt:      ".claude/CLAUDE.md",
		skills:      ".claude/skills",
		interactive: []string{"claude", "--dangerously-skip-permissions"},
		headless:    func(p string) []string { return []string{"claude", "--dangerously-skip-permissions", "-p", p} },
		// Shown in the prompt box, the resume picker and the title.
		name:      func(l string) []string { return []string{"--name", l} },
		model:     func(m string) []string { return []string{"--model", m} },
		cont:      []string{"--continue"},
		configure: configureClaude,
	},
	manifest.TemplateCodex: {
		prompt:      ".codex/AGENTS.md",
		skills:      ".codex/skills",
		interactive: []string{"codex", "--no-daemon"},
		headless:    func(p string) []string { return []string{"codex", "exec", "--skip-git-repo-check", p} },
		// No shared app-server daemon: it would outlive the bottle's
		// command and copy its packages (some 400 MB) into CODEX_HOME.
		headlessWords: 2,
		model:         func(m string) []string { return []string{"--model", m} },
		configure:     configureCodex,
	},
	manifest.TemplatePi: {
		prompt:      ".pi/agent/AGENTS.md",
		skills:      ".pi/agent/skills",
		interactive: []string{"pi"},
		headless:    func(p string) []string { return []string{"pi", "-p", p} },
		configure:   configurePi,
	},
	manifest.TemplateShell: {
		prompt:      ".bot-bottle-prompt.txt",
		skills:      ".agents/skills",
		interactive: []string{"bash", "-l"},
		headless:    func(p string) []string { return []string{"bash", "-lc", p} },
	},
}

// Provision returns what r's bottle needs at start to run its provider's
// CLI: the prompt in the CLI's place, the agent's skills, the CLI's
// settings with onboarding and trust pre-accepted, ~/.gitconfig, the
// environment with placeholders and the bottle's env resolved, and the
// command line. It fails on an unknown template, a missing skill, an unset
// host variable or a failed prompt; errors name variables, never values.
func Provision(r *manifest.Resolved, opts Options) (*Plan, error) {
	if r == nil || r.Bottle == nil || r.Agent == nil {
		return nil, errors.New("provisioning: no resolved agent and bottle")
	}
	tmpl := r.Bottle.Provider.Template.Or(manifest.DefaultTemplate)
	p, ok := providers[tmpl]
	if !ok {
		return nil, fmt.Errorf("provisioning: unknown provider template %q; known: %s", tmpl, strings.Join(manifest.Templates, ", "))
	}
	if opts.Headless && strings.TrimSpace(opts.HeadlessPrompt) == "" {
		return nil, errors.New("provisioning: a headless run needs a prompt")
	}
	for _, s := range r.Bottle.MCPServers {
		opts.MCPServers = append(opts.MCPServers, MCPServer{Name: s.Name, URL: s.URL, Command: s.Command, Env: s.Env})
	}
	c := &setup{r: r, opts: &opts, workspace: opts.Workspace, now: time.Now()}
	if c.workspace == "" {
		c.workspace = r.Bottle.Workspace.Path.Or(manifest.DefaultWorkspacePath)
	}
	if opts.Now != nil {
		c.now = opts.Now()
	}
	plan := &Plan{Template: tmpl, User: AgentUser, Interactive: slices.Clone(p.interactive)}
	if opts.Headless {
		plan.Headless = p.headless(opts.HeadlessPrompt)
	}
	var flags []string
	if opts.Label != "" && p.name != nil {
		flags = append(flags, p.name(opts.Label)...)
	}
	if opts.Continue {
		flags = append(flags, p.cont...)
	}
	// Pi takes its model from its settings (configurePi).
	if m := r.Agent.Model.V; m != "" && p.model != nil {
		flags = append(flags, p.model(m)...)
	}
	plan.Interactive = withFlags(plan.Interactive, 1, flags)
	plan.Headless = withFlags(plan.Headless, max(p.headlessWords, 1), flags)
	if prompt := strings.TrimSpace(r.Agent.Prompt); prompt != "" {
		plan.Files = append(plan.Files, agentFile(p.prompt, 0o644, []byte(prompt+"\n")))
	}
	skills, err := copySkills(opts.SkillDirs, skillNames(r.Agent), path.Join(Home, p.skills))
	if err != nil {
		return nil, fmt.Errorf("provisioning %s: %w", tmpl, err)
	}
	plan.Files = append(plan.Files, skills...)
	if p.configure != nil {
		files, env, err := p.configure(c)
		if err != nil {
			return nil, fmt.Errorf("provisioning %s: %w", tmpl, err)
		}
		plan.Files = append(plan.Files, files...)
		plan.Env = env
	}
	gitconfig, err := gitConfig(r.GitUser, c.workspace, opts.GitRewrites)
	if err != nil {
		return nil, fmt.Errorf("provisioning %s: %w", tmpl, err)
	}
	plan.Files = append(plan.Files, agentFile(".gitconfig", 0o644, gitconfig))
	if plan.Env, err = bottleEnv(plan.Env, r.Bottle.Env, &opts); err != nil {
		return nil, err
	}
	return plan, nil
}

// withFlags puts flags right after the first words of cmd: the CLI's
// name and subcommand.
func withFlags(cmd []string, words int, flags []string) []string {
	if len(cmd) < words || len(flags) == 0 {
		return cmd
	}
	return slices.Concat(cmd[:words], flags, cmd[words:])
}

// agentFile is an agent-owned file at rel below Home.
func agentFile(rel string, mode int64, data []byte) backend.File {
	return backend.File{Path: path.Join(Home, rel), Mode: mode, Data: data}
}

// hasRole reports whether one of b's routes has role.
func hasRole(b *manifest.Bottle, role string) bool {
	return slices.ContainsFunc(b.Egress.Routes, func(r manifest.Route) bool { return r.Role == role })
}

func skillNames(a *manifest.Agent) []string {
	names := make([]string, 0, len(a.Skills))
	for _, s := range a.Skills {
		names = append(names, s.V)
	}
	return names
}
