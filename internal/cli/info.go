package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

type infoOptions struct {
	env     *Env
	Agent   string
	Bottles []string
}

func newInfoCmd(env *Env, runF func(*infoOptions) error) *cobra.Command {
	opts := &infoOptions{env: env}
	cmd := &cobra.Command{
		Use:   "info AGENT",
		Short: "Describe an agent: its bottle, env names, skills, git identity and prompt",
		Args:  exactArgs(1, "info needs the name of an agent"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agent = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runInfo(opts)
		},
		ValidArgsFunction: completeAgents(env),
	}
	cmd.Flags().StringArrayVarP(&opts.Bottles, "bottle", "b", nil, "bottle to describe it in (repeatable; default: the agent's bottle)")
	_ = cmd.RegisterFlagCompletionFunc("bottle", completeBottles(env))
	return cmd
}

func runInfo(opts *infoOptions) error {
	ix, err := opts.env.index()
	if err != nil {
		return err
	}
	res, ds := ix.Resolve(opts.Agent, opts.Bottles)
	io := opts.env.IO
	if printDiags(io.ErrOut, append(ix.Diagnostics(), ds...)) {
		return SilentError{Code: ExitError}
	}
	a, b := res.Agent, res.Bottle
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "agent\t%s\t%s\n", a.Name, a.File)
	fmt.Fprintf(tw, "bottle\t%s\t%s\n", b.Name, strings.Join(b.Chain, " → "))
	var envNames []string
	for _, e := range b.Env {
		envNames = append(envNames, e.Name+" ("+e.Value.Mode.String()+")")
	}
	fmt.Fprintf(tw, "env\t%s\t\n", listOrNone(envNames))
	for _, s := range a.Skills {
		where := ix.SkillDir(s.V)
		if where == "" {
			where = "NOT FOUND"
		}
		fmt.Fprintf(tw, "skill\t%s\t%s\n", s.V, where)
	}
	fmt.Fprintf(tw, "git name\t%s\t%s\n", valueOrNone(res.GitUser.Name.V), provenance(res.GitUser.Name.At.File, a.File))
	fmt.Fprintf(tw, "git email\t%s\t%s\n", valueOrNone(res.GitUser.Email.V), provenance(res.GitUser.Email.At.File, a.File))
	if err := tw.Flush(); err != nil {
		return err
	}
	if a.Prompt == "" {
		fmt.Fprintln(io.Out, "\nprompt: (none)")
		return nil
	}
	fmt.Fprintf(io.Out, "\nprompt:\n%s\n", indent(a.Prompt, "  "))
	return nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

func valueOrNone(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// provenance says whether a value came from the agent or a bottle.
func provenance(file, agentFile string) string {
	switch file {
	case "":
		return ""
	case agentFile:
		return "(agent)"
	}
	return "(bottle " + strings.TrimSuffix(file[strings.LastIndex(file, "/")+1:], ".md") + ")"
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
