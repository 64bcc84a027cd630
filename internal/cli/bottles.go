package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/proc"
)

// The commands that act on running bottles by slug.

// backendFor returns the backend that runs slug, from its record.
func (e *Env) backendFor(slug string) (backend.Backend, error) {
	home, err := e.Home()
	if err != nil {
		return nil, err
	}
	name := ""
	if rec, err := launch.ReadRecord(home, slug); err == nil {
		name = rec.Backend
	}
	if name == "" {
		name, _ = e.LookupEnv("BOT_BOTTLE_BACKEND")
	}
	if name == "" {
		name = backendNames[0]
	}
	return e.newBackend(name)
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
		if err := be.Stop(ctx, slug); err != nil {
			return err
		}
		home, err := env.Home()
		if err != nil {
			return err
		}
		if err := retire(ctx, env, home, slug); err != nil {
			return err
		}
		fmt.Fprintf(env.IO.ErrOut, "bottle %s removed\n", slug)
		return nil
	}, env)
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
			home, err := env.Home()
			if err != nil {
				return err
			}
			rec, err := launch.ReadRecord(home, slug)
			if err != nil {
				return err
			}
			be, err := env.newBackend(rec.Backend)
			if err != nil {
				return err
			}
			if in, ok := findInstance(cmd.Context(), be, slug); ok && in.State == backend.StateRunning {
				return commandStatus(attach(cmd.Context(), env, be, slug, env.IO.IsTerminal()))
			}
			if cwd, _ := env.Getwd(); cwd != rec.Cwd {
				return fmt.Errorf("bottle %s worked in %s; run resume from there", slug, rec.Cwd)
			}
			opts.Agent, opts.Bottles, opts.Backend, opts.Command, opts.slug = rec.Agent, rec.Bottles, rec.Backend, rec.Command, slug
			return runStart(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "start without asking")
	cmd.Flags().BoolVar(&opts.AllowUnenforcedLimits, "allow-unenforced-limits", false, "start even where the bottle's resources (cpus, memory, pids) cannot be enforced")
	return cmd
}

func findInstance(ctx context.Context, be backend.Backend, slug string) (backend.Instance, bool) {
	list, err := be.List(ctx)
	if err != nil {
		return backend.Instance{}, false
	}
	for _, in := range list {
		if in.Slug == slug {
			return in, true
		}
	}
	return backend.Instance{}, false
}

// activeBottles lists the bottles of every usable backend.
func (e *Env) activeBottles(ctx context.Context) ([]backend.Instance, []error) {
	var all []backend.Instance
	var errs []error
	for _, name := range backendNames {
		be, err := e.newBackend(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list, err := be.List(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		all = append(all, list...)
	}
	return all, errs
}

// orphaned reports whether a bottle has lost its owner: the bot-bottle
// process that started it is gone, or, for a detached bottle, parts of it
// are. A bottle whose owner lives is never an orphan, even half-started.
func orphaned(in backend.Instance) bool {
	if in.OwnerPID > 0 {
		return !proc.Alive(in.OwnerPID)
	}
	return in.State != backend.StateRunning
}

func newListActiveCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "active",
		Short: "List the bottles that exist on every backend",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, errs := env.activeBottles(cmd.Context())
			ios := env.IO
			for _, err := range errs {
				fmt.Fprintf(ios.ErrOut, "bot-bottle: %v\n", err)
			}
			if asJSON {
				type row struct {
					backend.Instance
					Orphan bool `json:"orphan"`
				}
				rows := []row{}
				for _, in := range list {
					rows = append(rows, row{in, orphaned(in)})
				}
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLUG\tAGENT\tBOTTLES\tBACKEND\tSTATE\tAGE")
			for _, in := range list {
				state := in.State
				if orphaned(in) {
					state += " (orphan)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Slug, in.Agent, strings.Join(in.Bottles, "+"), in.Backend, state, time.Since(in.Created).Round(time.Second))
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
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove orphaned bottles of every backend: one plan, one question",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ios := env.IO
			list, errs := env.activeBottles(ctx)
			var plan []backend.Instance
			for _, in := range list {
				if orphaned(in) {
					plan = append(plan, in)
				}
			}
			home, err := env.Home()
			if err != nil {
				return err
			}
			keys := leftKeys(home, list)
			if len(plan) == 0 && len(keys) == 0 {
				fmt.Fprintln(ios.ErrOut, "nothing to clean up")
				return errors.Join(errs...)
			}
			fmt.Fprintln(ios.ErrOut, "will remove:")
			for _, in := range plan {
				fmt.Fprintf(ios.ErrOut, "  %s (%s, %s): %s\n", in.Slug, in.Backend, in.State, strings.Join(in.Resources, ", "))
			}
			for _, rec := range keys {
				for _, k := range rec.DeployKeys {
					fmt.Fprintf(ios.ErrOut, "  %s: deploy key %d of %s/%s at %s (repository %s)\n", rec.Slug, k.ID, k.Owner, k.Name, k.API, k.Repo)
				}
			}
			if !yes {
				if !ios.IsTerminal() {
					return flagErrorf("no terminal to confirm on: pass --yes")
				}
				if ok, err := confirm(ios, "Remove these?"); err != nil || !ok {
					return err
				}
			}
			for _, rec := range keys {
				if err := launch.RevokeDeployKeys(ctx, home, rec.Slug, env.LookupEnv); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", rec.Slug, err))
					continue
				}
				fmt.Fprintf(ios.ErrOut, "revoked the deploy keys of %s\n", rec.Slug)
			}
			for _, in := range plan {
				be, err := env.newBackend(in.Backend)
				if err == nil {
					err = be.Stop(ctx, in.Slug)
				}
				if err == nil {
					err = retire(ctx, env, home, in.Slug)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", in.Slug, err))
					continue
				}
				fmt.Fprintf(ios.ErrOut, "removed %s\n", in.Slug)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "remove without asking")
	return cmd
}

// leftKeys returns the records of removed bottles that still hold deploy
// keys: a revoke that failed, or a CLI that died before it could revoke.
func leftKeys(home string, active []backend.Instance) []launch.Record {
	var out []launch.Record
	for _, rec := range launch.RecordsWithDeployKeys(home) {
		if !slices.ContainsFunc(active, func(in backend.Instance) bool { return in.Slug == rec.Slug && !orphaned(in) }) {
			out = append(out, rec)
		}
	}
	return out
}
