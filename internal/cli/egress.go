package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/audit"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
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
	env        *Env
	Bottle     string
	Listen     string
	CADir      string
	Audit      string
	UpstreamCA string
	Resolve    []string
	Admin      string
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
	f.StringVar(&opts.Listen, "listen", "", "address to listen on, e.g. 127.0.0.1:9099")
	f.StringVar(&opts.CADir, "ca-dir", "", "folder holding the interception CA (ca.crt, ca.key)")
	f.StringVar(&opts.Audit, "audit", "", "append hash-chained audit events to this file")
	f.StringVar(&opts.UpstreamCA, "upstream-ca", "", "PEM file of an extra CA trusted for upstream TLS")
	f.StringArrayVar(&opts.Resolve, "resolve", nil, "HOST=ADDR:PORT: dial ADDR:PORT for every connection to HOST (repeatable)")
	f.StringVar(&opts.Admin, "admin", "", "loopback address for the operator API (POST /reload); never give it to the agent")
	_ = cmd.RegisterFlagCompletionFunc("bottle", completeBottles(env))
	return cmd
}

// adminServer serves the operator API on a loopback address.
func adminServer(addr string, reload func() error) (*http.Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, flagErrorf("--admin %q must be a loopback address such as 127.0.0.1:9199", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := reload(); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		_, _ = w.Write([]byte("reloaded\n"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
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
	secrets := map[string]secret.Value{}
	for _, t := range pol.Tokens {
		v, ok := env.LookupEnv(t.Env)
		if !ok || v == "" {
			return nil, nil, fmt.Errorf("host variable %s is not set: it holds the credential for %s; export it and retry", t.Env, strings.Join(t.Hosts, ", "))
		}
		secrets[t.Slot] = secret.New(v)
	}
	return pol, secrets, nil
}

func runEgressServe(ctx context.Context, opts *egressServeOptions) error {
	env := opts.env
	resolve := map[string]string{}
	for _, r := range opts.Resolve {
		host, addr, ok := strings.Cut(r, "=")
		if _, _, err := net.SplitHostPort(addr); !ok || host == "" || err != nil {
			return flagErrorf("--resolve %q must be HOST=ADDR:PORT", r)
		}
		resolve[host] = addr
	}
	pol, secrets, err := compileBottle(env, opts.Bottle)
	if err != nil {
		return err
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if opts.UpstreamCA != "" {
		pem, err := os.ReadFile(opts.UpstreamCA)
		if err != nil {
			return fmt.Errorf("reading --upstream-ca: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--upstream-ca %s holds no PEM certificate", opts.UpstreamCA)
		}
	}
	ca, err := egress.LoadOrCreateCA(opts.CADir, opts.Bottle)
	if err != nil {
		return fmt.Errorf("loading the CA in %s: %w", opts.CADir, err)
	}
	cfg := egress.Config{Policy: pol, CA: ca, Secrets: secrets, Resolve: resolve, UpstreamRoots: roots, Log: env.Log}
	if opts.Audit != "" {
		w, err := audit.Open(opts.Audit)
		if err != nil {
			return err
		}
		defer func() { _ = w.Close() }()
		cfg.Audit = &egress.AuditLog{W: w, Bottle: opts.Bottle, Log: env.Log}
	}
	proxy, err := egress.New(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = proxy.Close() }()
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", opts.Listen, err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 30 * time.Second}
	fmt.Fprintf(env.IO.ErrOut, "egress: bottle %s, %d route(s), listening on %s; CA %s (sha256 %s)\n",
		opts.Bottle, len(pol.Routes), ln.Addr(), opts.CADir+"/"+egress.CACertFile, ca.Fingerprint())

	reload := func() error {
		pol, secrets, err := compileBottle(env, opts.Bottle)
		if err == nil {
			err = proxy.Reload(pol, secrets)
		}
		if err != nil {
			fmt.Fprintf(env.IO.ErrOut, "egress: reload refused, keeping the current policy: %v\n", err)
			return err
		}
		fmt.Fprintf(env.IO.ErrOut, "egress: reloaded, %d route(s)\n", len(pol.Routes))
		return nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			_ = reload()
		}
	}()
	if opts.Admin != "" {
		admin, err := adminServer(opts.Admin, reload)
		if err != nil {
			return err
		}
		defer func() { _ = admin.Close() }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return nil
	}
}
