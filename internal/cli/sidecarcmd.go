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
	env    *Env
	Policy string
	proxyFlags
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
	opts.register(f, ":9099")
	return cmd
}

func runSidecar(ctx context.Context, opts *sidecarOptions) error {
	cfg, err := opts.config(sidecar.PolicyFileLoader(opts.Policy, opts.env.LookupEnv))
	if err != nil {
		return err
	}
	cfg.Log = opts.env.Log
	cfg.Ready = func(addr net.Addr, ca *egress.CA, pol *policy.Policy) {
		// Backends wait for this line: keep "sidecar: ready" at its start.
		fmt.Fprintf(opts.env.IO.ErrOut, "sidecar: ready: bottle %s, %d route(s), egress on %s, dns on %s, CA sha256 %s\n", pol.Bottle, len(pol.Routes), addr, dnsOr(opts.DNS), ca.Fingerprint())
	}
	return opts.adminError(sidecar.Run(ctx, cfg))
}

func dnsOr(addr string) string {
	if addr == "" {
		return "(off)"
	}
	return addr
}
