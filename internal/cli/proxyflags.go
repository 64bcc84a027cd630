package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/bot-bottle/bot-bottle/internal/sidecar"
)

// proxyFlags are the egress proxy settings shared by `egress serve` and the
// hidden sidecar role.
type proxyFlags struct {
	Listen     string
	CADir      string
	Audit      string
	UpstreamCA string
	Resolve    []string
	Admin      string
	DNS        string
	GitDir     string
}

func (pf *proxyFlags) register(f *pflag.FlagSet, listenDefault string) {
	f.StringVar(&pf.Listen, "listen", listenDefault, "address to listen on, e.g. 127.0.0.1:9099")
	f.StringVar(&pf.CADir, "ca-dir", "", "folder holding the interception CA (ca.crt, ca.key)")
	f.StringVar(&pf.Audit, "audit", "", "append hash-chained audit events to this file")
	f.StringVar(&pf.UpstreamCA, "upstream-ca", "", "PEM file of an extra CA trusted for upstream TLS")
	f.StringArrayVar(&pf.Resolve, "resolve", nil, "HOST=ADDR:PORT: dial ADDR:PORT for every connection to HOST (repeatable)")
	f.StringVar(&pf.Admin, "admin", "", "loopback address for the operator API (POST /reload); never give it to the agent")
	f.StringVar(&pf.DNS, "dns", "", "also serve DNS (UDP and TCP) on this address, answering the allowed hosts only")
	f.StringVar(&pf.GitDir, "git-dir", "", "folder for the git gate's mirrors (default: a temporary folder removed at exit)")
}

// config turns the flags into a sidecar configuration around load.
func (pf *proxyFlags) config(load sidecar.Loader) (sidecar.Config, error) {
	resolve, err := parseResolve(pf.Resolve)
	if err != nil {
		return sidecar.Config{}, err
	}
	return sidecar.Config{
		Listen:     pf.Listen,
		CADir:      pf.CADir,
		Audit:      pf.Audit,
		UpstreamCA: pf.UpstreamCA,
		Resolve:    resolve,
		Admin:      pf.Admin,
		DNS:        pf.DNS,
		GitDir:     pf.GitDir,
		Load:       load,
	}, nil
}

// adminError reports a non-loopback --admin address as bad usage.
func (pf *proxyFlags) adminError(err error) error {
	if errors.Is(err, sidecar.ErrAdminAddr) {
		return FlagError{Err: fmt.Errorf("--admin %q: %w", pf.Admin, err)}
	}
	return err
}
