package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/lifecycle"
)

// The commands that act on running bottles by slug.

// backendFor returns the backend that runs slug, from its record.
func (e *Env) backendFor(slug string) (backend.Backend, error) {
	m, err := e.lifecycle()
	if err != nil {
		return nil, err
	}
	be, err := m.BackendOf(slug)
	if err != nil {
		return nil, flagErrorf("%v", err)
	}
	return be, nil
}

func slugCmd(use, short string, run func(ctx context.Context, env *Env, be backend.Backend, slug string, rest []string) error, env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			slug := args[0]
			be, err := env.backendFor(slug)
			if err != nil {
				return err
			}
			return run(cmd.Context(), env, be, slug, args[1:])
		},
	}
}

func newAttachCmd(env *Env) *cobra.Command {
	cmd := slugCmd("attach SLUG", "Attach the terminal to a running bottle's agent", func(ctx context.Context, env *Env, be backend.Backend, slug string, rest []string) error {
		if len(rest) > 0 {
			return flagErrorf("attach takes one slug")
		}
		return commandStatus(attach(ctx, env, be, slug, env.IO.IsTerminal()))
	}, env)
	return cmd
}

func newExecCmd(env *Env) *cobra.Command {
	cmd := slugCmd("exec SLUG -- CMD...", "Run a command in a running bottle as the agent user", func(ctx context.Context, env *Env, be backend.Backend, slug string, rest []string) error {
		if len(rest) == 0 {
			return flagErrorf("give the command after --: bot-bottle exec %s -- CMD...", slug)
		}
		ios := env.IO
		defer resetTerminal(ios)
		e := backend.Exec{Cmd: rest, Stdio: backend.Stdio{Stdout: ios.Out, Stderr: ios.ErrOut, Stdin: ios.In, TTY: ios.IsTerminal()}}
		if e.TTY {
			restore, resize, err := rawTerminal(ctx, ios)
			if err != nil {
				return err
			}
			defer restore()
			e.Resize = resize
		}
		return commandStatus(be.Exec(ctx, slug, e))
	}, env)
	return cmd
}

func newStopCmd(env *Env) *cobra.Command {
	return slugCmd("stop SLUG", "Stop a bottle and remove everything it holds", func(ctx context.Context, env *Env, be backend.Backend, slug string, rest []string) error {
		if len(rest) > 0 {
			return flagErrorf("stop takes one slug")
		}
		m, err := env.lifecycle()
		if err != nil {
			return err
		}
		if err := m.Remove(ctx, be, slug); err != nil {
			return err
		}
		fmt.Fprintf(env.IO.ErrOut, "bottle %s removed\n", slug)
		return nil
	}, env)
}

func newCommitCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "commit SLUG",
		Short: "Save a bottle's agent runtime, so that resume starts from it",
		Long: `Save what a bottle's agent runtime holds now (Docker: its container as an
image: what the agent installed, its home, a copied workspace; native: its
home and /tmp, the rest being the host's, read-only), so that
'bot-bottle resume SLUG' starts from it instead of the agent's image. A
later commit replaces the earlier one; cleanup removes it with the
bottle's state. The sidecar, the policy and the secrets are never part
of it: resume makes them anew from the manifests.`,
		Args: exactArgs(1, "name the bottle to commit: bot-bottle commit SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := env.lifecycle()
			if err != nil {
				return err
			}
			ref, err := m.Commit(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(env.IO.ErrOut, "bottle %s committed as %s; 'bot-bottle resume %s' starts from it once it is stopped\n", args[0], ref, args[0])
			return nil
		},
	}
}

func newLogsCmd(env *Env) *cobra.Command {
	var follow bool
	cmd := slugCmd("logs SLUG [-f]", "Print a bottle's sidecar and agent logs; -f follows its audit events", func(ctx context.Context, env *Env, be backend.Backend, slug string, rest []string) error {
		if len(rest) > 0 {
			return flagErrorf("logs takes one slug")
		}
		if err := be.Logs(ctx, slug, env.IO.Out); err != nil {
			return err
		}
		if !follow {
			return nil
		}
		return followEvents(ctx, env, be, slug, env.IO.Out)
	}, env)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "then follow the bottle's audit events (JSON lines) until it ends or you interrupt")
	return cmd
}

func newResumeCmd(env *Env) *cobra.Command {
	opts := &startOptions{env: env}
	cmd := &cobra.Command{
		Use:   "resume SLUG",
		Short: "Attach to a running bottle, or start a removed one again with the same agent, bottles and workspace",
		Args:  exactArgs(1, "name the bottle to resume: bot-bottle resume SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			slug := args[0]
			m, err := env.lifecycle()
			if err != nil {
				return err
			}
			cwd, err := env.Getwd()
			if err != nil {
				return err
			}
			r, err := m.Resume(cmd.Context(), slug, cwd)
			if err != nil {
				return err
			}
			if r.Running {
				if opts.Headless {
					return fmt.Errorf("bottle %s is running, and its agent cannot take a new prompt; 'bot-bottle attach %s' connects to it", slug, slug)
				}
				return commandStatus(attach(cmd.Context(), env, r.Backend, slug, env.IO.IsTerminal()))
			}
			rec := r.Record
			opts.Agent, opts.Bottles, opts.Backend, opts.Command, opts.slug = rec.Agent, rec.Bottles, rec.Backend, rec.Command, slug
			opts.Label, opts.Color, opts.KeepHome, opts.committed = rec.Label, rec.Color, rec.KeepHome, rec.Committed
			if err := opts.checkHeadless(); err != nil {
				return err
			}
			return runStart(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "start without asking")
	cmd.Flags().BoolVar(&opts.AllowUnenforcedLimits, "allow-unenforced-limits", false, "start even where the bottle's resources (cpus, memory, pids) cannot be enforced")
	opts.headlessFlags(cmd)
	return cmd
}

func newListActiveCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "active",
		Short: "List the bottles that exist on every backend",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := env.lifecycle()
			if err != nil {
				return err
			}
			list, errs := m.Active(cmd.Context())
			ios := env.IO
			for _, err := range errs {
				fmt.Fprintf(ios.ErrOut, "bot-bottle: %v\n", err)
			}
			if asJSON {
				if list == nil {
					list = []lifecycle.Bottle{}
				}
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLUG\tAGENT\tBOTTLES\tBACKEND\tSTATE\tAGE")
			for _, in := range list {
				state := string(in.State)
				if in.Orphan {
					state += " (orphan)"
				}
				agent := in.Agent
				if in.Label != "" {
					agent = fmt.Sprintf("%s (%s)", paint(in.Label, in.Color, ios.ColorEnabled()), in.Agent)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Slug, agent, strings.Join(in.Bottles, "+"), in.Backend, state, time.Since(in.Created).Round(time.Second))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(errs) > 0 {
				return SilentError{Code: ExitError}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newCleanupCmd(env *Env) *cobra.Command {
	var yes bool
	var keep time.Duration
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove orphaned bottles of every backend, and old state of ended ones: one plan, one question",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ios := env.IO
			m, err := env.lifecycle()
			if err != nil {
				return err
			}
			plan, errs := m.PlanCleanup(ctx, keep)
			if plan.Empty() {
				fmt.Fprintln(ios.ErrOut, "nothing to clean up")
				return errors.Join(errs...)
			}
			fmt.Fprintln(ios.ErrOut, "will remove:")
			for _, b := range plan.Orphans {
				fmt.Fprintf(ios.ErrOut, "  %s (%s, %s): %s\n", b.Slug, b.Backend, b.State, strings.Join(b.Resources, ", "))
			}
			for _, rec := range plan.Keys {
				for _, k := range rec.DeployKeys {
					fmt.Fprintf(ios.ErrOut, "  %s: deploy key %d of %s/%s at %s (repository %s)\n", rec.Slug, k.ID, k.Owner, k.Name, k.API, k.Repo)
				}
			}
			for _, f := range plan.Expired {
				fmt.Fprintf(ios.ErrOut, "  %s: state folder and audit log (ended, last written %s ago)\n", f.Record.Slug, time.Since(f.Touched).Round(time.Hour))
			}
			if !yes {
				if !ios.IsTerminal() {
					return flagErrorf("no terminal to confirm on: pass --yes")
				}
				if ok, err := confirm(ios, "Remove these?"); err != nil || !ok {
					return err
				}
			}
			err = m.Cleanup(ctx, plan, func(s string) { fmt.Fprintln(ios.ErrOut, s) })
			return errors.Join(append(errs, err)...)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "remove without asking")
	cmd.Flags().DurationVar(&keep, "keep-state", lifecycle.DefaultKeepState, "keep the state folder (record for resume, audit log) of an ended bottle this long after its last write; -1s keeps all")
	return cmd
}
