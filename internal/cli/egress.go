package cli

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/sidecar"
)

func newEgressCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "egress",
		Short: "Run the egress proxy on its own (tests, benchmarks, debugging)",
	}
	cmd.AddCommand(newEgressServeCmd(env, nil))
	return cmd
}

type egressServeOptions struct {
	env    *Env
	Bottle string
	proxyFlags
}

func newEgressServeCmd(env *Env, runF func(context.Context, *egressServeOptions) error) *cobra.Command {
	opts := &egressServeOptions{env: env}
	cmd := &cobra.Command{
		Use:   "serve --bottle NAME --listen ADDR --ca-dir DIR",
		Short: "Serve a bottle's egress proxy on this host",
		Long: `Serve the egress proxy of one bottle on this host: the same code the sidecar
runs. The policy is compiled from the bottle in $BOT_BOTTLE_HOME; each
credential is read from the host variable its route names. The CA is kept
in --ca-dir (created on first use); agents trust DIR/ca.crt.

SIGHUP, or POST /reload on the --admin address, reloads the policy from the
manifests without dropping connections. The agent reads its routes and
recent refusals at http://_egress.local/routes and /refusals.`,
		Example: "  bot-bottle egress serve --bottle dev --listen 127.0.0.1:9099 --ca-dir /tmp/ca --resolve api.test=127.0.0.1:8443",
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Bottle == "" || opts.Listen == "" || opts.CADir == "" {
				return flagErrorf("--bottle, --listen and --ca-dir are required")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runEgressServe(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Bottle, "bottle", "", "bottle whose policy to enforce")
	opts.register(f, "")
	_ = cmd.RegisterFlagCompletionFunc("bottle", completeBottles(env))
	return cmd
}

// compileBottle resolves a bottle from the manifests and compiles its
// policy, reading each credential from the host variable it names.
func compileBottle(env *Env, name string) (*policy.Policy, map[string]secret.Value, error) {
	ix, err := env.index()
	if err != nil {
		return nil, nil, err
	}
	ds := ix.ValidateBottle(name)
	if ds.HasErrors() {
		return nil, nil, &manifest.Error{Diags: ds.Errors()}
	}
	b, _ := ix.ResolveBottle(name)
	pol, err := policy.Compile(b)
	if err != nil {
		return nil, nil, err
	}
	secrets, err := launch.Tokens(pol, env.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	return pol, secrets, nil
}

func runEgressServe(ctx context.Context, opts *egressServeOptions) error {
	env := opts.env
	cfg, err := opts.config(func() (*policy.Policy, map[string]secret.Value, error) { return compileBottle(env, opts.Bottle) })
	if err != nil {
		return err
	}
	cfg.Log = env.Log
	cfg.Ready = func(addr net.Addr, ca *egress.CA, pol *policy.Policy) {
		fmt.Fprintf(env.IO.ErrOut, "egress: bottle %s, %d route(s), listening on %s; CA %s (sha256 %s)\n",
			opts.Bottle, len(pol.Routes), addr, filepath.Join(opts.CADir, egress.CACertFile), ca.Fingerprint())
	}
	cfg.Reloaded = func(pol *policy.Policy, err error) {
		if err != nil {
			fmt.Fprintf(env.IO.ErrOut, "egress: reload refused, keeping the current policy: %v\n", err)
			return
		}
		fmt.Fprintf(env.IO.ErrOut, "egress: reloaded, %d route(s)\n", len(pol.Routes))
	}
	return opts.adminError(sidecar.Run(ctx, cfg))
}

// parseResolve reads HOST=ADDR:PORT pins.
func parseResolve(pins []string) (map[string]string, error) {
	resolve := map[string]string{}
	for _, r := range pins {
		host, addr, ok := strings.Cut(r, "=")
		if _, _, err := net.SplitHostPort(addr); !ok || host == "" || err != nil {
			return nil, flagErrorf("--resolve %q must be HOST=ADDR:PORT", r)
		}
		resolve[host] = addr
	}
	return resolve, nil
}
