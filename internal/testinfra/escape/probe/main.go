//go:build linux

// Command probe is copied into a bottle by the escape suite and tries one
// raw way out: a TCP connection, a UDP exchange, an ICMP echo, a DNS
// query or a direct HTTP request that ignores the proxy variables; or one
// raw file operation (a set-id file, a file capability) or a connection
// to a Unix socket. It
// prints one hits.ProbeResult JSON line and exits 0 if it reached its
// target, 1 if not, 2 on a usage error. It makes exactly the attempt it
// is asked for, each bounded by a 3s timeout, and never retries
// elsewhere.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// attemptTimeout bounds each attempt.
const attemptTimeout = 3 * time.Second

const usage = `usage:
  probe tcp HOST:PORT
  probe udp HOST:PORT
  probe icmp IPV4
  probe dns NAME TYPE [SERVER:PORT]
  probe http URL
  probe create PATH MODE
  probe chmod PATH MODE
  probe setcap PATH
  probe unix PATH
  probe mcp URL TOOL [JSON-ARGS]`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "mcp" {
		return runMCP(ctx, args[1:], stdout, stderr)
	}
	r, err := probe(ctx, args)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n%s\n", err, usage)
		return 2
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		fmt.Fprintf(stderr, "probe: writing the result: %v\n", err)
		return 2
	}
	if r.Reached {
		return 0
	}
	return 1
}

// probe checks args and makes the attempt they ask for; its error is
// always a *usageError.
func probe(ctx context.Context, args []string) (hits.ProbeResult, error) {
	if len(args) < 2 {
		return hits.ProbeResult{}, &usageError{"missing operation or target"}
	}
	op, target, rest := args[0], args[1], args[2:]
	if r, ok, err := fileProbe(ctx, op, target, rest); ok {
		return r, err
	}
	nargs := map[string]int{hits.OpTCP: 0, hits.OpUDP: 0, hits.OpICMP: 0, hits.OpHTTP: 0, hits.OpDNS: 1}
	n, ok := nargs[op]
	switch {
	case !ok:
		return hits.ProbeResult{}, &usageError{fmt.Sprintf("unknown operation %q", op)}
	case len(rest) < n || len(rest) > n+1 || op != hits.OpDNS && len(rest) > 0:
		return hits.ProbeResult{}, &usageError{fmt.Sprintf("wrong number of arguments for %s", op)}
	}
	switch op {
	case hits.OpTCP, hits.OpUDP:
		if _, _, err := net.SplitHostPort(target); err != nil {
			return hits.ProbeResult{}, &usageError{fmt.Sprintf("%s target %q is not HOST:PORT", op, target)}
		}
		if op == hits.OpTCP {
			return probeTCP(ctx, target), nil
		}
		return probeUDP(ctx, target), nil
	case hits.OpICMP:
		ip := net.ParseIP(target).To4()
		if ip == nil {
			return hits.ProbeResult{}, &usageError{fmt.Sprintf("icmp target %q is not an IPv4 address", target)}
		}
		return probeICMP(ctx, ip), nil
	case hits.OpDNS:
		qtype, err := parseType(rest[0])
		if err != nil {
			return hits.ProbeResult{}, &usageError{err.Error()}
		}
		server := ""
		if len(rest) == 2 {
			server = rest[1]
		}
		return probeDNS(ctx, target, qtype, server), nil
	default:
		if err := checkURL(target); err != nil {
			return hits.ProbeResult{}, &usageError{err.Error()}
		}
		return probeHTTP(ctx, target), nil
	}
}

// errDetail describes err for a result's Detail.
func errDetail(err error) string {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return fmt.Sprintf("timeout: %v", err)
	}
	return err.Error()
}
