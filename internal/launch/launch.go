// Package launch turns a resolved manifest into a backend.Spec: it mints
// the slug, compiles the policy, reads the secrets from the host, creates
// the bottle's CA and asks the provider for the image and the files. It
// keeps the bottle's state folder, $BOT_BOTTLE_HOME/state/<slug>/.
//
// It never starts, stops or lists a bottle (internal/lifecycle does),
// and never writes a secret to the state folder but the control token,
// which no backend hands to a bottle.
package launch

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/provider"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Options configure Prepare.
type Options struct {
	// Home is $BOT_BOTTLE_HOME.
	Home string
	// Cwd is the working tree that becomes the workspace.
	Cwd      string
	Resolved *manifest.Resolved
	// Backend is the backend's name, recorded in the state.
	Backend string
	// LookupEnv reads the host environment: route tokens and ${VAR} env.
	LookupEnv func(string) (string, bool)
	// Prompt asks the operator for a "?" env value, without echo.
	Prompt func(name, message string) (string, error)
	// SkillDirs are searched for the agent's skills, in order.
	SkillDirs []string
	// BaseImage overrides the templates' public base image.
	BaseImage string
	// BuildCA are PEM certificates an image build trusts besides the
	// image's own (see provider.WithBuildCA).
	BuildCA []byte
	// UpstreamCA and Resolve configure the sidecar's upstream side.
	UpstreamCA string
	Resolve    map[string]string
	// Command, when set, replaces the provider CLI and runs without a
	// terminal.
	Command []string
	// TTY gives the provider CLI a terminal.
	TTY bool
	// HeadlessPrompt, when set, runs the provider CLI's one-shot command
	// with it, without a terminal (start --headless).
	HeadlessPrompt string
	// Label and Color name the bottle for people: list active shows them,
	// and a CLI that can show a session name gets the label.
	Label, Color string
	// KeepHome keeps the agent's home in the state folder (home/) from
	// one start of the bottle to the next (start --keep-home), so that
	// the agent CLI's history survives a resume.
	KeepHome bool
	// Continue resumes the agent CLI's last conversation (a resume with a
	// kept home).
	Continue bool
	// Committed, when set, is the saved runtime (bot-bottle commit) the
	// bottle starts from instead of its image recipe.
	Committed string
	// Detached bottles have no owner process.
	Detached bool
	// Slug, when set, reuses a slug (resume); else a new one is minted.
	Slug string
	// HostUID and HostGID are the operator's ids; a mounted workspace
	// makes the agent user take them (root excepted).
	HostUID, HostGID int
}

// Launch is a prepared bottle: its Spec and what Write persists.
type Launch struct {
	Spec   *backend.Spec
	Policy *policy.Policy
	Record Record
	// Protection is what a mounted workspace keeps read-only; nil when
	// the workspace is not mounted or workspace.protect is false.
	Protection *Protection

	policyJSON []byte
	ca         *egress.CA
	bottle     *manifest.Bottle
	upstreamCA string
}

// Record is the bottle's state file, state/<slug>/bottle.json: what
// list, resume and cleanup need to know about it.
type Record struct {
	Slug      string    `json:"slug"`
	Agent     string    `json:"agent"`
	Bottles   []string  `json:"bottles"`
	Backend   string    `json:"backend"`
	Cwd       string    `json:"cwd"`
	Command   []string  `json:"command,omitempty"`
	Detached  bool      `json:"detached"`
	CreatedAt time.Time `json:"created_at"`
	// Headless says the provider CLI ran one prompt (start --headless);
	// the prompt itself is not kept.
	Headless bool `json:"headless,omitempty"`
	// Label and Color are the operator's names for the bottle.
	Label string `json:"label,omitempty"`
	Color string `json:"color,omitempty"`
	// KeepHome says the agent's home is kept in the state folder.
	KeepHome bool `json:"keep_home,omitempty"`
	// Committed is the backend's reference of the runtime bot-bottle
	// commit saved, which resume starts from.
	Committed string `json:"committed,omitempty"`
	// Mounted says the workspace Cwd was mounted: what the agent left
	// there is checked when the bottle is retired (Leftovers).
	Mounted bool `json:"mounted,omitempty"`
	// DeployKeys are the forge keys registered for the bottle and not yet
	// revoked.
	DeployKeys []DeployKey `json:"deploy_keys,omitempty"`
	// Placeholders are the protected paths launch created in the
	// workspace; Retire removes those still as created.
	Placeholders []Placeholder `json:"placeholders,omitempty"`
}

// StateDir returns the state folder of slug.
func StateDir(home, slug string) string { return filepath.Join(home, "state", slug) }

// NewSlug returns "<agent>-<5 base36 characters>".
func NewSlug(agent string) (string, error) {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 5)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(digits))))
		if err != nil {
			return "", err
		}
		b[i] = digits[n.Int64()]
	}
	return agent + "-" + string(b), nil
}

// CompilePolicy is the policy a bottle starts with, or replaces its own
// with: the compiled manifest, with the quiet hosts of its template's CLI.
func CompilePolicy(b *manifest.Bottle) (*policy.Policy, error) {
	pol, err := policy.Compile(b)
	if err != nil {
		return nil, err
	}
	if err := pol.WithQuiet(provider.QuietHosts(b.Provider.Template.Or(manifest.DefaultTemplate))); err != nil {
		return nil, err
	}
	return pol, nil
}

// Prepare builds the Spec of a bottle. It writes nothing: Write does.
func Prepare(o Options) (*Launch, error) {
	if o.LookupEnv == nil {
		o.LookupEnv = func(string) (string, bool) { return "", false }
	}
	res := o.Resolved
	b := res.Bottle
	pol, err := CompilePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("compiling the policy of bottle %s: %w", b.Name, err)
	}
	polJSON, err := json.MarshalIndent(pol, "", "  ")
	if err != nil {
		return nil, err
	}
	secrets, err := Tokens(pol, o.LookupEnv)
	if err != nil {
		return nil, err
	}
	keyFiles, err := staticKeys(b, pol, secrets)
	if err != nil {
		return nil, err
	}
	slug := o.Slug
	if slug == "" {
		if slug, err = NewSlug(res.Agent.Name); err != nil {
			return nil, err
		}
	}
	ca, err := egress.NewCA("bot-bottle " + slug)
	if err != nil {
		return nil, fmt.Errorf("minting the bottle CA: %w", err)
	}
	p, err := provide(res, o)
	if err != nil {
		return nil, err
	}
	dir := StateDir(o.Home, slug)
	ws := backend.Workspace{
		Mode:     backend.WorkspaceMode(b.Workspace.Mode.Or(manifest.DefaultWorkspaceMode)),
		Path:     b.Workspace.Path.Or(manifest.DefaultWorkspacePath),
		HostPath: o.Cwd,
	}
	named := namedPaths(b, o.LookupEnv)
	var prot *Protection
	if ws.Mode != backend.WorkspaceNone {
		if err := checkWorkspace(o.Cwd, guards(o, hidden(named, keyFiles))); err != nil {
			return nil, err
		}
	}
	if ws.Mode == backend.WorkspaceMount && b.Workspace.Protect.Or(manifest.DefaultWorkspaceProtect) {
		if prot, err = ProtectWorkspace(o.Cwd); err != nil {
			return nil, err
		}
		ws.Pinned, ws.ReadOnly = prot.Pinned, prot.ReadOnly
	}
	token, err := control.NewToken()
	if err != nil {
		return nil, fmt.Errorf("minting the control token: %w", err)
	}
	spec := &backend.Spec{
		ControlToken: token,
		Slug:         slug,
		Agent:        res.Agent.Name,
		Bottles:      res.Bottles,
		StateDir:     dir,
		PolicyFile:   filepath.Join(dir, "policy.json"),
		CADir:        filepath.Join(dir, "ca"),
		AuditFile:    filepath.Join(dir, "audit.jsonl"),
		Secrets:      secrets,
		UpstreamCA:   o.UpstreamCA,
		Resolve:      o.Resolve,
		Image:        p.image,
		User:         p.user,
		Env:          p.env,
		Files:        p.files,
		Workspace:    ws,
		Hide:         hidden(named, keyFiles),
		Resources: backend.Resources{
			MilliCPUs: b.Resources.MilliCPUs.V,
			Memory:    b.Resources.Memory.V,
			Pids:      b.Resources.Pids.V,
		},
		Command:  p.command,
		TTY:      o.TTY && len(o.Command) == 0 && o.HeadlessPrompt == "",
		Detached: o.Detached,
		OwnerPID: os.Getpid(),
	}
	if o.KeepHome {
		spec.HomeDir = filepath.Join(dir, HomeDir)
	}
	spec.Image.Committed = o.Committed
	rec := Record{
		Slug: slug, Agent: res.Agent.Name, Bottles: res.Bottles, Backend: o.Backend,
		Cwd: o.Cwd, Command: o.Command, Detached: o.Detached, CreatedAt: time.Now().UTC(),
		Mounted: ws.Mode == manifest.WorkspaceMount, Headless: o.HeadlessPrompt != "", Label: o.Label, Color: o.Color,
		KeepHome: o.KeepHome, Committed: o.Committed,
	}
	return &Launch{Spec: spec, Policy: pol, Record: rec, Protection: prot, policyJSON: polJSON, ca: ca, bottle: b, upstreamCA: o.UpstreamCA}, nil
}

// Tokens reads the secret of every token slot of pol from the host
// environment: the one lookup of route credentials, at start and at a live
// policy replace.
func Tokens(pol *policy.Policy, lookup func(string) (string, bool)) (map[string]secret.Value, error) {
	out := map[string]secret.Value{}
	var missing []string
	for _, sl := range pol.Slots() {
		if sl.Kind != policy.SlotToken {
			continue
		}
		v, ok := lookup(sl.Env)
		if !ok || v == "" {
			missing = append(missing, fmt.Sprintf("%s (for %s)", sl.Env, sl.For))
			continue
		}
		out[sl.Name] = secret.New(v)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("the bottle needs these host variables, which are not set: %s; export them and try again", strings.Join(missing, "; "))
	}
	return out, nil
}

// Write creates the state folder with the policy, the CA and the record.
func (l *Launch) Write() error {
	dir := l.Spec.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the state folder: %w", err)
	}
	if err := os.WriteFile(l.Spec.PolicyFile, l.policyJSON, 0o600); err != nil {
		return fmt.Errorf("writing the policy: %w", err)
	}
	// The policy it started with outlives the bottle, for plan --against
	// started; it names slots and host variables, never a secret.
	if err := os.WriteFile(filepath.Join(dir, StartedPolicyFile), l.policyJSON, 0o600); err != nil {
		return fmt.Errorf("writing the policy: %w", err)
	}
	if l.Spec.HomeDir != "" {
		// Kept from the last start, or new.
		if err := os.Mkdir(l.Spec.HomeDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating the kept home: %w", err)
		}
	}
	if err := l.ca.Write(l.Spec.CADir); err != nil {
		return fmt.Errorf("writing the bottle CA: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, controlTokenFile), []byte(l.Spec.ControlToken.Reveal()), 0o600); err != nil {
		return fmt.Errorf("writing the control token: %w", err)
	}
	if l.Protection != nil {
		made, err := l.Protection.Create()
		l.Record.Placeholders = append(l.Record.Placeholders, made...)
		if err != nil {
			return errors.Join(err, RemovePlaceholders(made))
		}
	}
	return WriteRecord(dir, l.Record)
}

// HomeDir is the folder of a bottle's state folder that holds its kept
// home (start --keep-home).
const HomeDir = "home"

// WriteRecord writes a bottle's record into its state folder.
func WriteRecord(dir string, rec Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bottle.json"), append(data, '\n'), 0o600)
}

// ReadRecord reads the record of slug.
func ReadRecord(home, slug string) (Record, error) {
	var rec Record
	data, err := os.ReadFile(filepath.Join(StateDir(home, slug), "bottle.json"))
	if errors.Is(err, os.ErrNotExist) {
		return rec, fmt.Errorf("no bottle %s in %s; 'bot-bottle list active' shows the bottles", slug, filepath.Join(home, "state"))
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("reading the record of %s: %w", slug, err)
	}
	return rec, nil
}

// Retire removes what must not outlive a bottle from its state folder:
// the CA key and the policy. The record and the audit log stay, for
// resume and for the operator.
func Retire(home, slug string) error {
	dir := StateDir(home, slug)
	var perr error
	if rec, err := ReadRecord(home, slug); err == nil && !workspaceInUse(home, slug, rec.Cwd) {
		perr = RemovePlaceholders(rec.Placeholders)
	}
	return errors.Join(
		perr,
		ignoreMissing(os.RemoveAll(filepath.Join(dir, "ca"))),
		ignoreMissing(os.Remove(filepath.Join(dir, "policy.json"))),
		ignoreMissing(os.Remove(filepath.Join(dir, controlTokenFile))),
	)
}

// controlTokenFile holds, in the state folder on the host, the token of
// the bottle's control channel; no backend hands the folder to a bottle.
const controlTokenFile = "control.token"

// ControlToken reads the control token of a running bottle.
func ControlToken(home, slug string) (secret.Value, error) {
	data, err := os.ReadFile(filepath.Join(StateDir(home, slug), controlTokenFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return secret.Value{}, fmt.Errorf("bottle %s has no control token: it is not running, or was started by an older bot-bottle", slug)
		}
		return secret.Value{}, fmt.Errorf("reading the control token: %w", err)
	}
	return secret.New(strings.TrimSpace(string(data))), nil
}

// workspaceInUse reports whether a bottle other than slug that is not
// retired yet (its CA is still there) has the workspace cwd: its binds of
// the placeholders would go with them, so they stay.
func workspaceInUse(home, slug, cwd string) bool {
	entries, _ := os.ReadDir(filepath.Join(home, "state"))
	for _, e := range entries {
		if e.Name() == slug || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(StateDir(home, e.Name()), "ca")); err != nil {
			continue
		}
		if rec, err := ReadRecord(home, e.Name()); err == nil && rec.Cwd == cwd {
			return true
		}
	}
	return false
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// systemPath reports a path in the system's own folders, which a bottle
// needs and which hold no operator secrets.
func systemPath(p string) bool {
	for _, dir := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/proc", "/sys", "/dev"} {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

// namedPaths lists the existing absolute host paths that the bottle's
// env and route tokens name, by value or through a host variable (a
// GOOGLE_APPLICATION_CREDENTIALS file, say): a backend that shows the
// host's files hides them.
func namedPaths(b *manifest.Bottle, lookup func(string) (string, bool)) []string {
	var vals []string
	for _, e := range b.Env {
		switch e.Value.Mode {
		case manifest.EnvLiteral:
			vals = append(vals, e.Value.Literal)
		case manifest.EnvHost:
			if v, ok := lookup(e.Value.HostVar); ok {
				vals = append(vals, v)
			}
		case manifest.EnvPrompt:
			// Typed at start, never a host path we could know of.
		}
	}
	for _, r := range b.Egress.Routes {
		if r.Auth != nil {
			if v, ok := lookup(r.Auth.TokenRef); ok {
				vals = append(vals, v)
			}
		}
	}
	var out []string
	for _, v := range vals {
		v = filepath.Clean(v)
		if !NamesHostPath(v) || slices.Contains(out, v) {
			continue
		}
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// NamesHostPath reports whether v, the value of an env entry or a route
// token, names a host file or folder that a backend showing the host's
// files must hide from the bottle: an existing absolute path outside the
// system's own folders, and not a program (EDITOR=/usr/local/bin/vim is a
// tool, not a secret).
func NamesHostPath(v string) bool {
	v = filepath.Clean(v)
	if !filepath.IsAbs(v) || v == "/" || systemPath(v) {
		return false
	}
	st, err := os.Stat(v)
	if err != nil {
		return false
	}
	program := st.Mode().IsRegular() && st.Mode()&0o111 != 0
	return !program
}

// hidden merges path lists into one sorted list without repeats.
func hidden(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// StartedPolicyFile is, in a bottle's state folder, the policy it started
// with; retiring the bottle keeps it.
const StartedPolicyFile = "started-policy.json"

// StartedPolicy returns the policy the newest bottle of agent started
// with, and that bottle's slug.
func StartedPolicy(home, agent string) (string, []byte, error) {
	entries, _ := os.ReadDir(filepath.Join(home, "state"))
	var best Record
	var data []byte
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rec, err := ReadRecord(home, e.Name())
		if err != nil || rec.Agent != agent || (data != nil && !rec.CreatedAt.After(best.CreatedAt)) {
			continue
		}
		d, err := os.ReadFile(filepath.Join(StateDir(home, e.Name()), StartedPolicyFile))
		if err != nil {
			continue
		}
		best, data = rec, d
	}
	if data == nil {
		return "", nil, fmt.Errorf("no bottle of agent %s has started here: start it first, or use --against FILE", agent)
	}
	return best.Slug, data, nil
}
