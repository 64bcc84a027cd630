package cli

import (
	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend/native"
	"github.com/bot-bottle/bot-bottle/internal/backend/native/inside"
)

// The roles the binary plays inside a native bottle. The backend starts
// them; they are not for people.

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
