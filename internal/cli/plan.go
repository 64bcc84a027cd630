package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/policy"
)

type planOptions struct {
	env     *Env
	Agent   string
	Bottles []string
	JSON    bool
	// Against is a bottle file, or "started", to show the authority
	// diff against.
	Against string
}

func newPlanCmd(env *Env, runF func(*planOptions) error) *cobra.Command {
	opts := &planOptions{env: env}
	cmd := &cobra.Command{
		Use:   "plan AGENT [--bottle NAME]... [--json] [--against FILE|started]",
		Short: "Show what starting an agent would run: the resolved bottle and its compiled policy",
		Long: `Resolve an agent and its bottles the way start would, and show the result.

Bottles come from --bottle (repeatable, folded left to right) or, without
it, from the agent's bottle: key. Every value names the file and line it
came from. The compiled policy is the document the sidecar enforces. Secret
values are never read or printed: env entries show ${VAR} references and
prompts, routes show the variable that holds their credential.

With --against, show only the authority the plan adds (+) and removes (-),
as policy --apply and supervise show it: against a bottle FILE (resolved
with its parents as start resolves a bottle), or against "started", the
policy the agent's last bottle started with.`,
		Example: "  bot-bottle plan dev\n  bot-bottle plan dev --bottle claude --bottle gitea --json\n  bot-bottle plan dev --against started",
		Args:    exactArgs(1, "plan needs the name of an agent"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agent = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runPlan(opts)
		},
		ValidArgsFunction: completeAgents(env),
	}
	cmd.Flags().StringArrayVarP(&opts.Bottles, "bottle", "b", nil, "bottle to run in (repeatable; default: the agent's bottle)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&opts.Against, "against", "", "show the authority the plan adds (+) and removes (-) against a bottle FILE, or against the policy the agent's last bottle started with (started)")
	_ = cmd.RegisterFlagCompletionFunc("bottle", completeBottles(env))
	return cmd
}

// planDoc is plan's JSON output.
type planDoc struct {
	*manifest.Resolved
	Policy   *policy.Policy `json:"policy"`
	Warnings []string       `json:"warnings"`
}

func runPlan(opts *planOptions) error {
	ix, err := opts.env.index()
	if err != nil {
		return err
	}
	res, ds := ix.Resolve(opts.Agent, opts.Bottles)
	ds = append(ix.Diagnostics(), ds...)
	io := opts.env.IO
	if ds.HasErrors() {
		printDiags(io.ErrOut, ds)
		return SilentError{Code: ExitError}
	}
	pol, err := launch.CompilePolicy(res.Bottle)
	if err != nil {
		return fmt.Errorf("compiling the policy of bottle %s: %w", res.Bottle.Name, err)
	}
	if opts.Against != "" {
		printDiags(io.ErrOut, ds)
		return planAgainst(opts, pol)
	}
	if opts.JSON {
		doc := planDoc{Resolved: res, Policy: pol, Warnings: []string{}}
		for _, d := range ds.Warnings().Sort() {
			doc.Warnings = append(doc.Warnings, d.String())
		}
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	printDiags(io.ErrOut, ds)
	writePlan(io.Out, res, pol)
	return nil
}

func writePlan(w io.Writer, res *manifest.Resolved, pol *policy.Policy) {
	b := res.Bottle
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	row("agent", res.Agent.Name, res.Agent.File)
	row("bottles", strings.Join(res.Bottles, " + "), "folded: "+strings.Join(b.Chain, " → "))
	row("provider", b.Provider.Template.Or(manifest.DefaultTemplate), from(b.Provider.Template))
	if b.Provider.Dockerfile.V != "" {
		row("dockerfile", manifest.DockerfilePath(b.Provider.Dockerfile), from(b.Provider.Dockerfile))
	}
	ws := b.Workspace
	row("workspace", fmt.Sprintf("%s at %s", orDefault(ws.Mode, manifest.DefaultWorkspaceMode), orDefault(ws.Path, manifest.DefaultWorkspacePath)), from(ws.Mode))
	row("resources", resourcesLine(b.Resources), "")
	row("git user", gitUserLine(res.GitUser), "name "+from(res.GitUser.Name)+", email "+from(res.GitUser.Email))
	if len(res.Agent.Skills) > 0 {
		var s []string
		for _, v := range res.Agent.Skills {
			s = append(s, v.V)
		}
		row("skills", strings.Join(s, ", "), "")
	}
	_ = tw.Flush()

	fmt.Fprintf(w, "\nenv: %d variable(s)\n", len(b.Env))
	for _, e := range b.Env {
		fmt.Fprintf(w, "  %s = %s  (%s)\n", e.Name, envLine(e.Value), e.At)
	}
	fmt.Fprintf(w, "\negress: %d route(s), log %s; every other host is refused\n", len(b.Egress.Routes), logLevel(b.Egress.Log.V))
	for i, rt := range b.Egress.Routes {
		fmt.Fprintf(w, "  %s  (%s)\n", rt.Host, rt.At)
		for _, l := range routeLines(rt, pol.Routes[i], pol) {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}
	fmt.Fprintf(w, "\ngit-gate: %d repo(s)\n", len(b.GitGate.Repos))
	for _, r := range b.GitGate.Repos {
		fmt.Fprintf(w, "  %s  (%s)\n", r.Name, r.At)
		for _, l := range repoLines(r) {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}
	fmt.Fprintf(w, "\npolicy: version %d, %d route(s), %d token slot(s); --json prints it\n", pol.Version, len(pol.Routes), len(pol.Tokens))
}

func from[T any](v manifest.Value[T]) string {
	if !v.Set {
		return "(default)"
	}
	return v.At.String()
}

func orDefault(v manifest.Value[string], def string) string {
	if v.V == "" {
		return def
	}
	return v.V
}

func resourcesLine(r manifest.Resources) string {
	var parts []string
	if r.MilliCPUs.V > 0 {
		parts = append(parts, fmt.Sprintf("cpus %g", float64(r.MilliCPUs.V)/1000))
	}
	if r.Memory.V > 0 {
		parts = append(parts, fmt.Sprintf("memory %d MiB", r.Memory.V>>20))
	}
	if r.Pids.V > 0 {
		parts = append(parts, fmt.Sprintf("pids %d", r.Pids.V))
	}
	if len(parts) == 0 {
		return "no limits"
	}
	return strings.Join(parts, ", ")
}

func gitUserLine(u manifest.GitUser) string {
	if u.Name.V == "" && u.Email.V == "" {
		return "(none)"
	}
	return fmt.Sprintf("%s <%s>", u.Name.V, u.Email.V)
}

func envLine(v manifest.EnvValue) string {
	switch v.Mode {
	case manifest.EnvHost:
		return v.String() + " (from the host at start)"
	case manifest.EnvLiteral:
	case manifest.EnvPrompt:
		if v.Prompt == "" {
			return "? (asked at start)"
		}
		return fmt.Sprintf("? %q (asked at start)", v.Prompt)
	}
	return fmt.Sprintf("%q", v.Literal)
}

func logLevel(n int) string {
	return [...]string{"off", "blocks", "full"}[n]
}

func routeLines(rt manifest.Route, pr policy.Route, pol *policy.Policy) []string {
	var lines []string
	if len(rt.Matches) == 0 {
		lines = append(lines, "allow: any path and method")
	}
	for _, m := range rt.Matches {
		lines = append(lines, "allow: "+matchLine(m))
	}
	if pr.Auth != nil {
		lines = append(lines, fmt.Sprintf("auth: injects %s ${%s} (sidecar slot %s)", pr.Auth.Form(), authRef(pol, pr.Auth.Slot), pr.Auth.Slot))
	}
	if rt.Role != "" {
		lines = append(lines, "role: "+rt.Role)
	}
	if rt.GitFetch {
		lines = append(lines, "git: fetch allowed (push is always refused)")
	}
	out := "off"
	if len(rt.DLP.Outbound) > 0 {
		out = strings.Join(rt.DLP.Outbound, ",") + " → " + rt.DLP.OnMatch
	}
	in := "off"
	if len(rt.DLP.Inbound) > 0 {
		in = strings.Join(rt.DLP.Inbound, ",")
	}
	return append(lines, "dlp: out "+out+"; in "+in)
}

// authRef names the host variable behind a compiled route's credential.
func authRef(pol *policy.Policy, slot string) string {
	for _, t := range pol.Tokens {
		if t.Slot == slot {
			return t.Env
		}
	}
	return "?"
}

func matchLine(m manifest.Match) string {
	var parts []string
	if len(m.Methods) > 0 {
		parts = append(parts, strings.Join(m.Methods, ","))
	}
	var ps []string
	for _, p := range m.Paths {
		ps = append(ps, p.Type+" "+p.Value)
	}
	if len(ps) > 0 {
		parts = append(parts, strings.Join(ps, " or "))
	}
	for _, h := range m.Headers {
		op := "="
		if h.Type == manifest.HeaderRegex {
			op = "~"
		}
		parts = append(parts, fmt.Sprintf("%s%s%q", h.Name, op, h.Value))
	}
	return strings.Join(parts, " ")
}

func repoLines(r manifest.Repo) []string {
	lines := []string{"upstream: " + r.URL.V.Raw}
	switch k := r.Key.V; k.Provider {
	case manifest.KeyProviderStatic:
		lines = append(lines, "key: static "+manifest.KeyPath(r.Key))
	case manifest.KeyProviderGitea:
		lines = append(lines, "key: deploy key registered through gitea (token ${"+k.ForgeTokenEnv+"})")
	}
	if r.HostKey.V == "" {
		lines = append(lines, "host key: NONE, the git gate will not connect")
	} else {
		lines = append(lines, "host key: "+r.HostKey.V)
	}
	if len(r.Branches.V) > 0 {
		lines = append(lines, "push branches: "+strings.Join(r.Branches.V, ", "))
	} else {
		lines = append(lines, "push branches: any but the upstream default")
	}
	protected := r.ProtectedPaths.V
	if len(protected) == 0 {
		protected = manifest.DefaultProtectedPaths
	}
	lines = append(lines, "protected paths: "+strings.Join(protected, ", "))
	if r.MaxPushBytes.V > 0 {
		lines = append(lines, fmt.Sprintf("max push: %d bytes", r.MaxPushBytes.V))
	}
	return lines
}

// planAgainst prints the authority pol adds to and removes from the
// policy of opts.Against: a bottle file, or what the agent last started
// with.
func planAgainst(opts *planOptions, pol *policy.Policy) error {
	env := opts.env
	var old *policy.Policy
	var what string
	if opts.Against == "started" {
		home, err := env.Home()
		if err != nil {
			return err
		}
		slug, data, err := launch.StartedPolicy(home, opts.Agent)
		if err != nil {
			return err
		}
		if old, err = policy.Parse(data); err != nil {
			return fmt.Errorf("reading the policy bottle %s started with: %w", slug, err)
		}
		what = "the policy bottle " + slug + " started with"
	} else {
		var err error
		if old, err = compileFile(env, opts.Against); err != nil {
			return err
		}
		what = opts.Against
	}
	changes := policy.Diff(old, pol)
	if opts.JSON {
		type line struct {
			Op   string `json:"op"`
			Text string `json:"text"`
		}
		out := []line{}
		for _, c := range changes {
			out = append(out, line{string(rune(c.Op)), c.Text})
		}
		enc := json.NewEncoder(env.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(env.IO.ErrOut, "agent %s now, against %s:\n", opts.Agent, what)
	if len(changes) == 0 {
		fmt.Fprintln(env.IO.Out, "no change")
		return nil
	}
	return changes.Write(env.IO.Out)
}
