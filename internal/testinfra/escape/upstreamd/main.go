// Command upstreamd is the escape suite's fake upstream: it runs on the
// hermetic fake internet, records every connection, request, datagram,
// DNS query and ICMP echo request that reaches it, and serves the record
// on a control API (GET /hits, POST /reset) in the format of package
// hits. A test that tries every way out of a bottle fails on any
// forbidden hit.
//
// It serves HTTPS (HTTP/1.1 and h2) and HTTP, greets TCP connections
// with "hello\n", echoes UDP datagrams, and answers every DNS A query
// with its own address and every TXT query with "leak", so that reaching
// it is detectable. It is a test fixture: it must never run on a network
// with a route to the real internet.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses args, serves until SIGINT or SIGTERM, and returns the exit
// status.
func run(args []string, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "upstreamd:", err)
		return 2
	}
	cfg.Log = log
	s, err := start(cfg)
	if err != nil {
		log.Error("starting", "err", err.Error())
		return 1
	}
	log.Info("serving", "https", addrString(s.httpsAddr), "http", addrString(s.httpAddr),
		"dns", addrString(s.dnsUDPAddr), "control", addrString(s.controlAddr))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	s.close()
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("upstreamd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var certFile, keyFile, tcp, udp, answer string
	fs.StringVar(&certFile, "cert", "", "PEM `file` holding the HTTPS leaf certificate (chain)")
	fs.StringVar(&keyFile, "key", "", "PEM `file` holding the HTTPS leaf's private key")
	fs.StringVar(&cfg.Control, "control", ":8081", "control API `address` (GET /hits, POST /reset); not recorded")
	fs.StringVar(&cfg.HTTPS, "https", ":443", "HTTPS `address`; empty turns it off")
	fs.StringVar(&cfg.HTTP, "http", ":80", "plain HTTP `address`; empty turns it off")
	fs.StringVar(&tcp, "tcp", ":7,:22", "comma-separated TCP `addresses` that answer \"hello\\n\"")
	fs.StringVar(&udp, "udp", ":7", "comma-separated UDP echo `addresses`")
	fs.StringVar(&cfg.DNS, "dns", ":53", "DNS `address`, UDP and TCP; empty turns it off")
	fs.StringVar(&answer, "dns-answer", "", "IPv4 `address` for A answers (default: the DNS listener's own)")
	fs.BoolVar(&cfg.ICMP, "icmp", true, "record ICMP echo requests on a raw socket (needs root or CAP_NET_RAW)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.TCP, cfg.UDP = splitList(tcp), splitList(udp)
	if answer != "" {
		if cfg.DNSAnswer = net.ParseIP(answer).To4(); cfg.DNSAnswer == nil {
			return config{}, fmt.Errorf("--dns-answer %q is not an IPv4 address", answer)
		}
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return config{}, fmt.Errorf("loading the HTTPS certificate: %w", err)
		}
		cfg.Cert = &cert
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
