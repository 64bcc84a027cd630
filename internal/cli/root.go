// Package cli is bot-bottle's command tree. Each command is a file with an
// options struct, a constructor taking the Env and an optional run function
// for tests, and a run function. All output goes through Env.IO, and an
// error is reported once, by Main.
package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

const rootLong = `bot-bottle runs coding agents unattended in bottles: isolated runtimes
whose only way out is a per-bottle sidecar that enforces an egress allowlist,
injects credentials the agent never holds, scans what leaves, and gates
git pushes.

Bottles (the security boundary) live in $BOT_BOTTLE_HOME/bottles/; agents
(skills and a prompt) in $BOT_BOTTLE_HOME/agents/ and ./.bot-bottle/agents/.
Start with 'bot-bottle init'.

Environment:
  BOT_BOTTLE_HOME       manifests and state (default ~/.bot-bottle)
  BOT_BOTTLE_LOG_LEVEL  debug, info, warn (default) or error; logs are JSON on stderr

Exit status:
  0    success
  1    error, e.g. an invalid manifest
  2    bad usage: unknown command, flag or argument
  3    blocked by policy
  130  interrupted`

// Main runs the command line args and returns the process exit status.
func Main(ctx context.Context, args []string, env *Env) int {
	root := newRootCmd(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return int(ExitOK)
	}
	var silent SilentError
	var flagErr FlagError
	switch {
	case errors.As(err, &silent):
		return int(silent.Code)
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		fmt.Fprintln(env.IO.ErrOut, "bot-bottle: interrupted")
		return int(ExitCancel)
	case errors.As(err, &flagErr):
		cmd, _, findErr := root.Find(args)
		path := "bot-bottle"
		if findErr == nil && cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(env.IO.ErrOut, "bot-bottle: %v\nRun '%s --help' for usage.\n", err, path)
		return int(ExitUsage)
	}
	fmt.Fprintf(env.IO.ErrOut, "bot-bottle: %v\n", err)
	return int(ExitError)
}

func newRootCmd(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "bot-bottle",
		Short:         "Run coding agents in bottles: sandboxes whose only way out is a policy-enforcing sidecar",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetIn(env.IO.In)
	root.SetOut(env.IO.Out)
	root.SetErr(env.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return FlagError{Err: err} })
	for _, c := range []*cobra.Command{
		newInitCmd(env, nil),
		newValidateCmd(env, nil),
		newPlanCmd(env, nil),
		newListCmd(env, nil),
		newInfoCmd(env, nil),
		newVersionCmd(env, nil),
	} {
		root.AddCommand(c)
	}
	return root
}

// noArgs refuses positional arguments, naming an unknown command as such.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return flagErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}
