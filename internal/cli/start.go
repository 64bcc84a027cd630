package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

type startOptions struct {
	env     *Env
	Agent   string
	Bottles []string
	Backend string
	Yes     bool
	DryRun  bool
	Detach  bool
	// AllowUnenforcedLimits starts a bottle whose resources the backend
	// cannot enforce here.
	AllowUnenforcedLimits bool
	// SuperviseTimeout is how long the bottle's proposals wait for the
	// operator.
	SuperviseTimeout time.Duration
	Command          []string
	// Headless runs the agent CLI's one-shot command with Prompt.
	Headless bool
	Prompt   string
	// Label and Color name the bottle for people.
	Label, Color string
	// KeepHome keeps the agent's home with the bottle's state.
	KeepHome bool
	// slug, when set, resumes that bottle; committed is the runtime it
	// was committed as.
	slug, committed string
}

func newStartCmd(env *Env) *cobra.Command {
	opts := &startOptions{env: env}
	cmd := &cobra.Command{
		Use:   "start [AGENT] [flags] [-- CMD...]",
		Short: "Start an agent in a bottle",
		Long: `Start an agent in a bottle: build what is missing, start the sidecar, then the
agent's CLI attached to this terminal. Everything is removed when it exits.

With -- CMD..., run CMD in the bottle instead of the agent's CLI, without a
terminal, and exit with its status. Without a terminal, CMD reads this
command's standard input; its end closes CMD's.

With --headless --prompt TEXT, run the agent's CLI once with TEXT (claude -p,
codex exec, pi -p, bash -lc), without pickers or a question: the preflight
goes to standard error, the agent's output to standard output, and the exit
status is the agent's.

Environment:
  BOT_BOTTLE_BACKEND                backend when --backend is absent (default docker)
  BOT_BOTTLE_BASE_IMAGE             base image of the provider templates
  BOT_BOTTLE_BUILD_CA               PEM file of CAs an image build trusts (default the host's; none for none)
  BOT_BOTTLE_UPSTREAM_CA            PEM file of a CA the sidecar trusts upstream
  BOT_BOTTLE_EGRESS_RESOLVE         HOST=ADDR:PORT,... names pinned in the sidecar
  BOT_BOTTLE_DOCKER_EGRESS_NETWORK  existing network for the sidecar's egress side`,
		ValidArgsFunction: completeAgents(env),
		RunE: func(cmd *cobra.Command, args []string) error {
			if at := cmd.ArgsLenAtDash(); at >= 0 {
				opts.Command = args[at:]
				args = args[:at]
				if len(opts.Command) == 0 {
					return flagErrorf("nothing after --: give the command to run in the bottle")
				}
			}
			if len(args) > 1 {
				return flagErrorf("start takes one agent, got %d", len(args))
			}
			if len(args) == 1 {
				opts.Agent = args[0]
			}
			if err := opts.checkHeadless(); err != nil {
				return err
			}
			return runStart(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.Bottles, "bottle", nil, "bottle to run in instead of the agent's (repeatable; merged in order)")
	f.StringVar(&opts.Backend, "backend", "", "backend to run on: "+strings.Join(env.registry().Names(), ", "))
	f.BoolVarP(&opts.Yes, "yes", "y", false, "start without asking")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the preflight summary and create nothing")
	f.BoolVarP(&opts.Detach, "detach", "d", false, "leave the bottle running in the background; see attach and stop")
	f.BoolVar(&opts.AllowUnenforcedLimits, "allow-unenforced-limits", false, "start even where the bottle's resources (cpus, memory, pids) cannot be enforced")
	f.DurationVar(&opts.SuperviseTimeout, "supervise-timeout", supervise.DefaultTimeout, "how long the agent's requests to the operator (bot-bottle supervise) wait before they expire, refused")
	opts.headlessFlags(cmd)
	f.StringVar(&opts.Label, "label", "", "a name for the bottle, shown by list active and given to the agent CLI where it shows one (claude --name)")
	f.StringVar(&opts.Color, "color", "", "the label's color in list active: "+strings.Join(colorNames(), ", "))
	f.BoolVar(&opts.KeepHome, "keep-home", false, "keep the agent's home (the CLI's history and settings) with the bottle's state, so that resume finds it again")
	return cmd
}

// headlessFlags adds --headless and --prompt to cmd (start, resume).
func (opts *startOptions) headlessFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&opts.Headless, "headless", false, "run the agent CLI once with --prompt, without pickers or questions, its output on stdout")
	cmd.Flags().StringVar(&opts.Prompt, "prompt", "", "the prompt of a --headless run")
}

// checkHeadless checks the flags of a headless run, which asks nothing:
// the agent is named and the start confirmed.
func (opts *startOptions) checkHeadless() error {
	if err := checkLabel(opts.Label); err != nil {
		return err
	}
	if err := checkColor(opts.Color); err != nil {
		return err
	}
	switch {
	case !opts.Headless && opts.Prompt != "":
		return flagErrorf("--prompt needs --headless")
	case !opts.Headless:
		return nil
	case strings.TrimSpace(opts.Prompt) == "":
		return flagErrorf("--headless needs --prompt TEXT: what the agent is asked to do")
	case len(opts.Command) > 0:
		return flagErrorf("--headless runs the agent CLI; -- CMD runs another command: give one of them")
	case opts.Detach:
		return flagErrorf("--headless runs in the foreground, its output on stdout; drop --detach")
	case opts.Agent == "":
		return flagErrorf("name the agent to start: bot-bottle start AGENT --headless --prompt TEXT")
	}
	opts.Yes = true
	return nil
}

func runStart(ctx context.Context, opts *startOptions) error {
	env := opts.env
	ios := env.IO
	ix, err := env.index()
	if err != nil {
		return err
	}
	if opts.Agent == "" {
		if opts.Agent, err = pickAgent(ios, ix); err != nil {
			return err
		}
	}
	res, ds := ix.Resolve(opts.Agent, opts.Bottles)
	ds = append(ix.Diagnostics(), ds...)
	if printDiags(ios.ErrOut, ds) {
		return SilentError{Code: ExitError}
	}
	be, feat, err := env.pickBackend(ctx, opts.Backend)
	if err != nil {
		return err
	}
	if opts.Color == "" {
		opts.Color = res.Agent.Color.V // the agent's own, if it has one
	}
	home, err := env.Home()
	if err != nil {
		return err
	}
	cwd, err := env.Getwd()
	if err != nil {
		return err
	}
	lopts := launch.Options{
		Home: home, Cwd: cwd, Resolved: res, Backend: be.Name(),
		LookupEnv: env.LookupEnv, Prompt: env.promptSecret,
		// The agent CLI gets a terminal when someone is at one, or later
		// through attach; a command after -- never does.
		Command: opts.Command, TTY: len(opts.Command) == 0 && !opts.Headless && (ios.IsTerminal() || opts.Detach),
		Detached: opts.Detach, Slug: opts.slug, Label: opts.Label, Color: opts.Color, KeepHome: opts.KeepHome,
		// A resumed bottle with its home goes on with its conversation.
		Continue:  opts.slug != "" && opts.KeepHome,
		Committed: opts.committed,
		HostUID:   os.Getuid(), HostGID: os.Getgid(),
	}
	if opts.Headless {
		lopts.HeadlessPrompt = opts.Prompt
	}
	lopts.BaseImage, _ = env.LookupEnv("BOT_BOTTLE_BASE_IMAGE")
	if lopts.BuildCA, err = buildCA(env.LookupEnv); err != nil {
		return err
	}
	if mc, err := env.manifestConfig(); err == nil {
		lopts.SkillDirs = mc.SkillDirs
	}
	lopts.UpstreamCA, _ = env.LookupEnv("BOT_BOTTLE_UPSTREAM_CA")
	if v, _ := env.LookupEnv("BOT_BOTTLE_EGRESS_RESOLVE"); v != "" {
		if lopts.Resolve, err = parseResolve(strings.Split(v, ",")); err != nil {
			return fmt.Errorf("BOT_BOTTLE_EGRESS_RESOLVE: %w", err)
		}
	}
	l, err := launch.Prepare(lopts)
	if err != nil {
		return err
	}
	l.Spec.AllowUnenforcedLimits = opts.AllowUnenforcedLimits
	if opts.SuperviseTimeout < 0 {
		return errors.New("--supervise-timeout must be positive, such as 30m")
	}
	l.Spec.SuperviseTimeout = opts.SuperviseTimeout
	writePreflight(ios.ErrOut, l, res, feat, be.Name())
	if opts.DryRun {
		fmt.Fprintln(ios.ErrOut, "dry run: nothing was created")
		return nil
	}
	if !opts.Yes {
		if !ios.IsTerminal() {
			return flagErrorf("no terminal to confirm on: pass --yes to start without asking")
		}
		if ok, err := confirm(ios, "Start this bottle?"); err != nil || !ok {
			if err == nil {
				fmt.Fprintln(ios.ErrOut, "not started")
			}
			return err
		}
	}
	return runBottle(ctx, env, be, l, opts.Detach)
}

// runBottle starts a prepared bottle and, unless detached, attaches to it
// and tears it down when its command ends or ctx does.
func runBottle(ctx context.Context, env *Env, be backend.Backend, l *launch.Launch, detach bool) error {
	ios := env.IO
	slug := l.Spec.Slug
	m, err := env.lifecycle()
	if err != nil {
		return err
	}
	if detach {
		if err := m.Start(ctx, be, l, ios.ErrOut); err != nil {
			return err
		}
		fmt.Fprintf(ios.ErrOut, "bottle %s is running: 'bot-bottle attach %s' to use it, 'bot-bottle stop %s' to remove it\n", slug, slug, slug)
		fmt.Fprintln(ios.Out, slug)
		return nil
	}
	code, err := m.Run(ctx, be, l, ios.ErrOut, func(ctx context.Context) (int, error) {
		if l.Record.Headless && ios.InIsTerminal() {
			// The prompt is the input: a CLI that reads a stdin that
			// is not its terminal (codex exec) would wait for the
			// operator's to end.
			return attachStdin(ctx, env, be, slug, false, nil)
		}
		return attach(ctx, env, be, slug, l.Spec.TTY)
	})
	if err != nil {
		return err
	}
	if len(l.Record.Command) == 0 {
		fmt.Fprintf(ios.ErrOut, "bottle %s removed; 'bot-bottle resume %s' starts it again\n", slug, slug)
	}
	if code != 0 {
		return SilentError{Code: ExitCode(code)}
	}
	return nil
}

// attach connects the terminal, or plain streams, to a bottle's main
// command and returns its exit status.
func attach(ctx context.Context, env *Env, be backend.Backend, slug string, tty bool) (int, error) {
	return attachStdin(ctx, env, be, slug, tty, env.IO.In)
}

// attachStdin is attach with the command's stdin fed from in; nil closes
// it at once.
func attachStdin(ctx context.Context, env *Env, be backend.Backend, slug string, tty bool, in io.Reader) (int, error) {
	ios := env.IO
	defer resetTerminal(ios)
	// Without a terminal, the command reads what is piped in, and a
	// closed or empty stdin ends its input (codex exec and claude -p
	// read a stdin that is not a terminal).
	s := backend.Stdio{Stdin: in, Stdout: ios.Out, Stderr: ios.ErrOut, TTY: tty}
	if tty {
		restore, resize, err := rawTerminal(ctx, ios)
		if err != nil {
			return 0, err
		}
		defer restore()
		s.Stdin, s.Resize = ios.In, resize
	}
	return be.Attach(ctx, slug, s)
}

// pickAgent asks which agent to start, or says how to name one.
func pickAgent(ios *IOStreams, ix *manifest.Index) (string, error) {
	agents := ix.Agents()
	if !ios.IsTerminal() || len(agents) == 0 {
		return "", flagErrorf("name the agent to start: bot-bottle start AGENT ('bot-bottle list' shows them)")
	}
	fmt.Fprintln(ios.ErrOut, "Agents:")
	for i, a := range agents {
		fmt.Fprintf(ios.ErrOut, "  %d) %s\n", i+1, a.Name)
	}
	for {
		answer, err := ask(ios, fmt.Sprintf("Start which agent? [1-%d] ", len(agents)))
		if err != nil {
			return "", err
		}
		var n int
		if _, err := fmt.Sscan(answer, &n); err == nil && n >= 1 && n <= len(agents) {
			return agents[n-1].Name, nil
		}
		for _, a := range agents {
			if a.Name == answer {
				return a.Name, nil
			}
		}
	}
}

// writePreflight prints what is about to start.
func writePreflight(w io.Writer, l *launch.Launch, res *manifest.Resolved, f backend.Features, backendName string) {
	spec := l.Spec
	row := func(k, v string) { fmt.Fprintf(w, "  %-10s %s\n", k, v) }
	fmt.Fprintf(w, "bottle %s\n", spec.Slug)
	row("agent", fmt.Sprintf("%s (%s)", res.Agent.Name, res.Agent.File))
	if m := res.Agent.Model.V; m != "" {
		if len(l.Record.Command) == 0 {
			row("model", m)
		} else {
			row("model", m+" (not passed: -- CMD runs as given)")
		}
	}
	row("bottles", strings.Join(res.Bottles, " + "))
	row("backend", fmt.Sprintf("%s: %s; %s", backendName, f.Runtime, f.Isolation))
	for _, n := range f.Notes {
		row("", "note: "+n)
	}
	if len(l.Policy.Routes) == 0 {
		row("egress", "none: every host is refused")
	}
	for i, r := range l.Policy.Routes {
		k := ""
		if i == 0 {
			k = "egress"
		}
		line := r.Host
		if r.Auth != nil {
			line += " (injects " + r.Auth.Form() + " ${" + authRef(l.Policy, r.Auth.Slot) + "})"
		}
		if len(r.Matches) > 0 {
			line += fmt.Sprintf(", %d match rule(s)", len(r.Matches))
		}
		row(k, line)
	}
	if g := l.Policy.GitGate; g != nil {
		for _, r := range g.Repos {
			row("repo", r.Name+" "+r.URL+" ("+repoLine(r)+")")
		}
	}
	if u := res.GitUser; u.Name.Set || u.Email.Set {
		row("git user", gitUserLine(u))
	}
	var names []string
	for _, e := range spec.Env {
		names = append(names, e.Name)
	}
	if len(names) > 0 {
		row("env", strings.Join(names, ", "))
	}
	ws := spec.Workspace
	switch ws.Mode {
	case backend.WorkspaceNone:
		row("workspace", "none")
	default:
		row("workspace", fmt.Sprintf("%s %s -> %s", ws.Mode, ws.HostPath, ws.Path))
	}
	if ws.Mode == backend.WorkspaceMount && !f.OwnsWorkspace {
		if u := spec.User; !writableBy(ws.HostPath, u.UID, u.GID) {
			row("", fmt.Sprintf("warning: the agent (uid %d) cannot write %s; start as the folder's owner rather than root, make it writable for uid %d, or set workspace.mode: copy", u.UID, ws.HostPath, u.UID))
		}
	}
	switch {
	case ws.Mode == backend.WorkspaceCopy:
		row("protected", "nothing needed: a copied workspace never returns to the host")
	case ws.Mode != backend.WorkspaceMount:
	case l.Protection == nil:
		row("protected", "off (workspace.protect: false): the agent can write .git/config and hooks that git on this host runs")
	default:
		row("protected", "read-only in the bottle: "+l.Protection.Summary())
		row("", "note: not covered: a repository the agent registers as a submodule, a rebase it leaves in progress (both listed when the bottle ends)")
	}
	if l.Record.Label != "" {
		row("label", l.Record.Label)
	}
	if spec.HomeDir != "" {
		row("home", "kept in "+spec.HomeDir+" (--keep-home): resume finds the agent's history there")
	}
	row("command", shellJoin(spec.Command))
}

// shellJoin writes argv as a shell would read it back: an argument with
// anything but safe characters in single quotes (a headless prompt has
// spaces and new lines).
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+:,./@%") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// ask prints a question and reads one line of answer.
func ask(ios *IOStreams, q string) (string, error) {
	fmt.Fprint(ios.ErrOut, q)
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := ios.In.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			if err == io.EOF && b.Len() > 0 {
				break
			}
			return "", fmt.Errorf("reading the answer: %w", err)
		}
	}
	return strings.TrimSpace(b.String()), nil
}

// confirm asks a y/N question; anything but y or yes is no.
func confirm(ios *IOStreams, q string) (bool, error) {
	a, err := ask(ios, q+" [y/N] ")
	if err != nil {
		return false, err
	}
	a = strings.ToLower(a)
	return a == "y" || a == "yes", nil
}

// promptSecret asks for a "?" env value without echo.
func (e *Env) promptSecret(name, message string) (string, error) {
	if message == "" {
		message = name
	}
	if f, ok := e.IO.In.(*os.File); ok && e.IO.IsTerminal() {
		fmt.Fprintf(e.IO.ErrOut, "%s: ", message)
		v, err := readPassword(f)
		fmt.Fprintln(e.IO.ErrOut)
		return v, err
	}
	return "", fmt.Errorf("env %s is asked for at start (?), and there is no terminal to ask on", name)
}

// repoLine sums up what the agent may do with a repository.
func repoLine(r policy.Repo) string {
	if r.HostKey == "" {
		return "no host_key pinned: the gate will not connect"
	}
	parts := []string{r.Key.Provider + " key"}
	switch {
	case r.Branches == nil:
		parts = append(parts, "push: any branch but the default")
	case len(r.Branches) == 0:
		parts = append(parts, "push: none")
	default:
		parts = append(parts, "push: "+strings.Join(r.Branches, ", "))
	}
	if n := len(r.ProtectedPaths); n > 0 {
		parts = append(parts, fmt.Sprintf("%d protected path(s)", n))
	}
	if r.MaxPushBytes > 0 {
		parts = append(parts, fmt.Sprintf("max push %d bytes", r.MaxPushBytes))
	}
	return strings.Join(parts, "; ")
}
