package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

type listOptions struct {
	env  *Env
	JSON bool
}

func newListCmd(env *Env, runF func(*listOptions) error) *cobra.Command {
	opts := &listOptions{env: env}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List agents and bottles with the files that define them",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runList(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the lists as JSON")
	cmd.AddCommand(newListActiveCmd(env))
	return cmd
}

func runList(opts *listOptions) error {
	ix, err := opts.env.index()
	if err != nil {
		return err
	}
	io := opts.env.IO
	agents, bottles := ix.Agents(), ix.Bottles()
	if opts.JSON {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Agents  []manifest.Entry `json:"agents"`
			Bottles []manifest.Entry `json:"bottles"`
		}{nonNil(agents), nonNil(bottles)})
	}
	printDiags(io.ErrOut, ix.Diagnostics())
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tFROM\tFILE")
	for _, e := range agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Origin, e.File)
	}
	fmt.Fprintln(tw, "\t\t")
	fmt.Fprintln(tw, "BOTTLE\t\tFILE")
	for _, e := range bottles {
		fmt.Fprintf(tw, "%s\t\t%s\n", e.Name, e.File)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(agents)+len(bottles) == 0 {
		fmt.Fprintln(io.ErrOut, "no manifests yet: run 'bot-bottle init' to create the base bottles and an example agent")
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
