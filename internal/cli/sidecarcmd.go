package cli

import (
	"context"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/sidecar"
)

type sidecarOptions struct {
	env        *Env
	Policy     string
	Listen     string
	CADir      string
	Audit      string
	UpstreamCA string
	Resolve    []string
	Admin      string
}

// newSidecarCmd is the hidden role the binary plays inside a bottle's
// sidecar. It reads the compiled policy from a file and each secret from
// the environment variable named after its slot, and never reads a
// manifest.
func newSidecarCmd(env *Env) *cobra.Command {
	opts := &sidecarOptions{env: env}
	cmd := &cobra.Command{
		Use:    "sidecar --policy FILE --ca-dir DIR",
		Short:  "Run a bottle's sidecar (started by the backends, not by hand)",
		Hidden: true,
		Args:   exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Policy == "" || opts.CADir == "" {
				return flagErrorf("--policy and --ca-dir are required")
			}
			return runSidecar(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Policy, "policy", "", "compiled policy file")
	f.StringVar(&opts.Listen, "listen", ":9099", "egress proxy address")
	f.StringVar(&opts.CADir, "ca-dir", "", "folder holding the interception CA")
	f.StringVar(&opts.Audit, "audit", "", "hash-chained audit log file")
	f.StringVar(&opts.UpstreamCA, "upstream-ca", "", "PEM file of an extra CA trusted for upstream TLS")
	f.StringArrayVar(&opts.Resolve, "resolve", nil, "HOST=ADDR:PORT pin (repeatable)")
	f.StringVar(&opts.Admin, "admin", "", "loopback address for POST /reload")
	return cmd
}

func runSidecar(ctx context.Context, opts *sidecarOptions) error {
	resolve, err := parseResolve(opts.Resolve)
	if err != nil {
		return err
	}
	load := sidecar.PolicyFileLoader(opts.Policy, opts.env.LookupEnv)
	return sidecar.Run(ctx, sidecar.Config{
		Listen:     opts.Listen,
		CADir:      opts.CADir,
		Audit:      opts.Audit,
		UpstreamCA: opts.UpstreamCA,
		Resolve:    resolve,
		Admin:      opts.Admin,
		Load:       load,
		Ready: func(addr net.Addr, ca *egress.CA, pol *policy.Policy) {
			fmt.Fprintf(opts.env.IO.ErrOut, "sidecar: bottle %s, %d route(s), egress on %s, CA sha256 %s\n", pol.Bottle, len(pol.Routes), addr, ca.Fingerprint())
		},
		Log: opts.env.Log,
	})
}
