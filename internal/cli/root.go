// Package cli is bot-bottle's command tree. Each command is a file with an
// options struct, a constructor taking the Env and an optional run function
// for tests, and a run function. All output goes through Env.IO, and every
// error is reported once, by Main. Only cmd/bot-bottle imports this package.
//
// It never runs a bottle itself: commands parse flags and call
// internal/lifecycle, and they never print a secret, even one the
// operator typed.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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

// Main runs bot-bottle with the command-line arguments args (without the
// program name) and returns the process exit status. It reports an error,
// if any, exactly once on env.IO.ErrOut.
func Main(ctx context.Context, args []string, env *Env) int {
	root := newRootCmd(env)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if cmd == nil {
		cmd = root
	}
	return int(report(ctx, env.IO.ErrOut, cmd, err))
}

// report prints err for the person at the terminal, unless the command
// already did, and returns the exit status it means. Any error after ctx
// was canceled (by SIGINT or SIGTERM) counts as an interruption, whether or
// not it wraps context.Canceled.
func report(ctx context.Context, w io.Writer, cmd *cobra.Command, err error) ExitCode {
	if err == nil {
		return ExitOK
	}
	if silent, ok := errors.AsType[SilentError](err); ok {
		return silent.Code
	}
	if _, ok := errors.AsType[FlagError](err); ok {
		fmt.Fprintf(w, "bot-bottle: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		fmt.Fprintln(w, "bot-bottle: interrupted")
		return ExitCancel
	}
	fmt.Fprintf(w, "bot-bottle: %v\n", err)
	return ExitError
}

func newRootCmd(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "bot-bottle",
		Short:         "run coding agents in bottles: sandboxes whose only way out is a policy-enforcing sidecar",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          unknownCommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},

		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(env.IO.In)
	root.SetOut(env.IO.Out)
	root.SetErr(env.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return FlagError{Err: err} })

	// The command list: one line per subcommand.
	for _, c := range []*cobra.Command{
		newInitCmd(env, nil),
		newValidateCmd(env, nil),
		newPlanCmd(env, nil),
		newListCmd(env, nil),
		newInfoCmd(env, nil),
		newVersionCmd(env, nil),
		newStartCmd(env),
		newResumeCmd(env),
		newCommitCmd(env),
		newAttachCmd(env),
		newExecCmd(env),
		newStopCmd(env),
		newLogsCmd(env),
		newPolicyCmd(env),
		newSuperviseCmd(env),
		newCleanupCmd(env),
		newBackendsCmd(env),
		newEgressCmd(env),
		newAuditCmd(env),
		newSidecarCmd(env),
		newSidecarBridgeCmd(env),
	} {
		root.AddCommand(c)
	}
	// The hidden roles only some platforms' backends use.
	root.AddCommand(platformRoles(env)...)

	// Cobra would add help and completion during Execute; adding them now,
	// after SetOut, lets usageErrors see them and sends completion scripts
	// to env.IO.Out.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	usageErrors(root)
	return root
}

// unknownCommand refuses positional arguments to a command that has
// subcommands, naming an unknown command as such and suggesting near misses,
// as cobra does.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	}
	return FlagError{Err: errors.New(msg)}
}

// usageErrors makes the argument and flag checks of c and its subcommands
// return FlagError, so that Main reports them as bad usage whichever
// cobra.PositionalArgs a command uses. Cobra calls Args after parsing flags
// and before any hook, so required and grouped flags are checked here too.
// A command that only groups subcommands prints its help when called alone
// and refuses an unknown subcommand, where cobra would print help and exit 0.
func usageErrors(c *cobra.Command) {
	check := c.Args
	switch {
	case check != nil:
	case c.HasSubCommands():
		check = unknownCommand
	default:
		check = cobra.ArbitraryArgs
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		err := check(cmd, args)
		if err == nil {
			err = cmd.ValidateRequiredFlags()
		}
		if err == nil {
			err = cmd.ValidateFlagGroups()
		}
		if _, ok := errors.AsType[FlagError](err); err != nil && !ok {
			err = FlagError{Err: err}
		}
		return err
	}
	if !c.Runnable() && c.HasSubCommands() {
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	for _, sub := range c.Commands() {
		usageErrors(sub)
	}
}
