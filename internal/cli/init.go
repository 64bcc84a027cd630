package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/scaffold"
)

type initOptions struct {
	env *Env
}

func newInitCmd(env *Env, runF func(*initOptions) error) *cobra.Command {
	opts := &initOptions{env: env}
	return &cobra.Command{
		Use:   "init",
		Short: "Create $BOT_BOTTLE_HOME with base bottles (claude, codex, pi, shell) and an example agent",
		Long: `Create the bot-bottle home ($BOT_BOTTLE_HOME, default ~/.bot-bottle) with
base bottles for the claude, codex, pi and shell providers and an example
agent. Files that exist are kept as they are; running init again only adds
what is missing.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runInit(opts)
		},
	}
}

func runInit(opts *initOptions) error {
	home, err := opts.env.Home()
	if err != nil {
		return err
	}
	res, err := scaffold.Write(home)
	if err != nil {
		return fmt.Errorf("creating %s: %w", home, err)
	}
	out := opts.env.IO.Out
	fmt.Fprintf(out, "bot-bottle home: %s\n", home)
	for _, f := range res.Created {
		fmt.Fprintf(out, "  created %s\n", f)
	}
	for _, f := range res.Kept {
		fmt.Fprintf(out, "  kept    %s (exists)\n", f)
	}
	fmt.Fprintln(out, "\nNext: 'bot-bottle plan example' shows what the example agent would run.")
	return nil
}
