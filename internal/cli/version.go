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
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print version, commit, go and platform as a JSON object")
	return cmd
}

// versionJSON is the output of version --json.
type versionJSON struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func runVersion(opts *versionOptions) error {
	out := opts.env.IO.Out
	if !opts.JSON {
		_, err := fmt.Fprintln(out, buildinfo.String())
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(versionJSON{
		Version:  buildinfo.Version(),
		Commit:   buildinfo.Commit(),
		Go:       runtime.Version(),
		Platform: buildinfo.Platform(),
	})
}
