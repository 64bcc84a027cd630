//go:build linux

package cli

import (
	"context"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/native"
	"github.com/bot-bottle/bot-bottle/internal/backend/native/inside"
	"github.com/bot-bottle/bot-bottle/internal/lifecycle"
)

// The roles the binary plays inside a native bottle. The backend starts
// them; they are not for people.

// platformRoles returns the hidden roles of Linux's native backend.
func platformRoles(env *Env) []*cobra.Command {
	return []*cobra.Command{newBottleInitCmd(env), newBottleExecCmd(env), newBottleSuperviseCmd(env), newBottleUsernsCmd(env)}
}

func newBottleInitCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    native.InitRole + " CONFIG",
		Short:  "Run a native bottle's init (started by the native backend)",
		Hidden: true,
		Args:   exactArgs(1, "the init's configuration file is missing"),
		RunE: func(_ *cobra.Command, args []string) error {
			return commandStatus(inside.Init(args[0], env.IO.ErrOut), nil)
		},
	}
}

func newBottleExecCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:                inside.ExecRole + " [--writable DIR]... -- CMD...",
		Short:              "Lock a process down and exec a command (run by a native bottle's init)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			code := inside.Exec(args, env.IO.ErrOut)
			return SilentError{Code: ExitCode(code)}
		},
	}
}

func newBottleUsernsCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    native.UsernsRole,
		Short:  "Hold a user namespace open (run by the native backend)",
		Hidden: true,
		Args:   exactArgs(0, "takes no arguments"),
		RunE: func(*cobra.Command, []string) error {
			return commandStatus(native.HoldUserns(env.IO.In, env.IO.Out), nil)
		},
	}
}

func newBottleSuperviseCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    native.SuperviseRole + " DIR",
		Short:  "Supervise a detached native bottle (started by start --detach)",
		Hidden: true,
		Args:   exactArgs(1, "the bottle's folder is missing"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// DIR is $BOT_BOTTLE_HOME/state/SLUG/native: the supervisor
			// retires the bottle as the owner of a foreground bottle
			// does, with the variables the plan hands it (its own
			// environment is scrubbed).
			dir := filepath.Clean(args[0])
			state := filepath.Dir(dir)
			home, slug := filepath.Dir(filepath.Dir(state)), filepath.Base(state)
			code := native.Supervise(cmd.Context(), native.SuperviseConfig{
				Dir: dir,
				Retire: func(ctx context.Context, renv []backend.EnvVar) error {
					vars := make(map[string]string, len(renv))
					for _, v := range renv {
						vars[v.Name] = v.Value.Reveal()
					}
					m := &lifecycle.Manager{
						Home: home, Backends: env.registry(), Log: env.Log,
						LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
					}
					return m.Retire(ctx, slug)
				},
				Log: env.Log,
			})
			return commandStatus(code, nil)
		},
	}
}
