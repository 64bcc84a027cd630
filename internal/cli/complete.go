package cli

import (
	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// exactArgs requires n positional arguments and says what is missing.
func exactArgs(n int, missing string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return flagErrorf("%s", missing)
		case len(args) > n:
			return flagErrorf("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

// completeAgents completes the first argument with agent names.
func completeAgents(env *Env) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return entryNames(env, (*manifest.Index).Agents), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeBottles completes a flag value with bottle names.
func completeBottles(env *Env) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return entryNames(env, (*manifest.Index).Bottles), cobra.ShellCompDirectiveNoFileComp
	}
}

func entryNames(env *Env, list func(*manifest.Index) []manifest.Entry) []cobra.Completion {
	ix, err := env.index()
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, e := range list(ix) {
		out = append(out, e.Name)
	}
	return out
}
