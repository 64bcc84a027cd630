package cli

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend/docker"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/sidecar"
	"github.com/bot-bottle/bot-bottle/internal/sidecar/contract"
)

// newSidecarCmd is the hidden role the binary plays inside a bottle's
// sidecar. It reads its launch document (internal/sidecar/contract) on
// standard input, answers with one readiness line on standard output, and
// logs on standard error. It never reads a manifest, a flag or the
// environment for what it enforces.
func newSidecarCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    "sidecar",
		Short:  "Run a bottle's sidecar (started by the backends, not by hand)",
		Hidden: true,
		Args:   exactArgs(0, "the sidecar takes its launch document on standard input"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runSidecar(cmd.Context(), env, env.IO.In, env.IO.Out)
			if err != nil {
				// The backend waits for one line: say why, then exit.
				_ = contract.WriteFailed(env.IO.Out, err)
			}
			return err
		},
	}
}

func runSidecar(ctx context.Context, env *Env, in io.Reader, out io.Writer) error {
	doc, err := contract.Decode(in)
	if err != nil {
		return err
	}
	pol, err := doc.ParsePolicy()
	if err != nil {
		return err
	}
	ca, err := egress.ParseCA(doc.CACert, []byte(doc.CAKey.Reveal()))
	if err != nil {
		return fmt.Errorf("the launch document's CA: %w", err)
	}
	cfg := sidecar.Config{
		Listen: doc.Listen, DNS: doc.DNS, Audit: doc.Audit, GitDir: doc.GitDir,
		CA: ca, UpstreamCAPEM: doc.UpstreamCA, Resolve: doc.Resolve, SuperviseTimeout: doc.SuperviseTimeout,
		Control: doc.Control, ControlToken: doc.ControlToken,
		// The document is read once: a replacement comes over the
		// control channel, never from a file.
		Load: func() (*policy.Policy, map[string]secret.Value, error) { return pol, doc.Secrets, nil },
		Log:  env.Log,
	}
	cfg.Ready = func(addr net.Addr, ca *egress.CA, pol *policy.Policy) {
		_ = contract.WriteReady(out, contract.Ready{
			Bottle: pol.Bottle, Routes: len(pol.Routes), Egress: addr.String(), DNS: doc.DNS,
			Control: doc.Control, CASHA256: ca.Fingerprint(),
		})
		// For people reading the sidecar's log; backends read stdout.
		fmt.Fprintf(env.IO.ErrOut, "sidecar: ready: bottle %s, %d route(s), egress on %s, dns on %s, CA sha256 %s\n", pol.Bottle, len(pol.Routes), addr, orOff(doc.DNS), ca.Fingerprint())
	}
	return sidecar.Run(ctx, cfg)
}

// newSidecarBridgeCmd is the hidden role the Docker backend execs in a
// sidecar to reach its control listener: it joins its standard streams
// to a loopback address of the sidecar's own network namespace.
func newSidecarBridgeCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    docker.BridgeRole + " ADDR",
		Short:  "Join stdio to the sidecar's control listener (run by the Docker backend)",
		Hidden: true,
		Args:   exactArgs(1, "the control address is missing"),
		RunE: func(cmd *cobra.Command, args []string) error {
			host, _, err := net.SplitHostPort(args[0])
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return flagErrorf("the bridge joins a loopback address only")
			}
			var d net.Dialer
			c, err := d.DialContext(cmd.Context(), "tcp", args[0])
			if err != nil {
				return err
			}
			defer func() { _ = c.Close() }()
			// The host's end of stdin half-closes the connection, which
			// ends a follow; the answer ending ends the bridge.
			go func() {
				_, _ = io.Copy(c, env.IO.In)
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}()
			_, err = io.Copy(env.IO.Out, c)
			return err
		},
	}
}

func orOff(addr string) string {
	if addr == "" {
		return "(off)"
	}
	return addr
}
