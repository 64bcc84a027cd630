package cli

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/buildinfo"
)

type versionOptions struct {
	env  *Env
	JSON bool
}

func newVersionCmd(env *Env, runF func(*versionOptions) error) *cobra.Command {
	opts := &versionOptions{env: env}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the version as JSON")
	return cmd
}

func runVersion(opts *versionOptions) error {
	out := opts.env.IO.Out
	if !opts.JSON {
		_, err := fmt.Fprintln(out, buildinfo.String())
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]string{
		"version":  buildinfo.Version(),
		"commit":   buildinfo.Commit(),
		"go":       runtime.Version(),
		"platform": buildinfo.Platform(),
	})
}
