// Package dnsgate is the bottle's DNS resolver. It runs in the sidecar, and
// it is the agent container's only DNS server. It answers from the egress
// policy alone and must never forward or recurse a query anywhere.
//
// Security: every name the policy does not allow gets NXDOMAIN with no
// records, so a lookup reveals nothing about the outside world, and because
// nothing is ever forwarded, query names cannot carry data out of the bottle
// (DNS exfiltration through an upstream resolver's logs or an
// attacker-run authoritative server). Allowed names resolve (type A) to the
// sidecar's own address, never to the real one: the agent has no route
// anywhere else, so a client that ignores the proxy variables and dials the
// name directly reaches the sidecar, not the internet. The real addresses
// are resolved by the egress proxy only, after policy checks.
package dnsgate

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Config configures a Server.
type Config struct {
	// Allow reports whether a name (lowercase, no trailing dot) is
	// allowlisted. It is called for every query, so the caller can swap
	// policies live. Nil allows nothing.
	Allow func(name string) bool

	// Answer returns the IPv4 address to put in A answers for a query that
	// arrived from client. Nil means the local address of the interface
	// whose subnet contains client, else the host's first non-loopback IPv4
	// address.
	Answer func(client netip.Addr) netip.Addr

	// OnQuery, when set, is called once for every query answered (for the
	// audit log). It runs on the serving goroutine and should not block.
	OnQuery func(Query)

	// Log receives debug and error logs. Nil discards them.
	Log *slog.Logger
}

// Query describes one answered query.
type Query struct {
	Client netip.Addr
	// Name is the queried name, lowercased and without the trailing dot.
	// It is empty when the request held no single question.
	Name string
	// Type is the query type's mnemonic, such as "A" or "TXT".
	Type    string
	Allowed bool
	// Rcode is the response code's mnemonic, such as "NOERROR" or
	// "NXDOMAIN".
	Rcode string
}

// Server is a DNS server answering from an allowlist. It is safe for
// concurrent use.
type Server struct {
	allow   func(string) bool
	answer  func(netip.Addr) netip.Addr
	onQuery func(Query)
	log     *slog.Logger

	// ifaddrs lists the host's interface addresses; tests replace it.
	ifaddrs func() ([]netip.Prefix, error)

	mu sync.Mutex
	// cached and cachedAt are guarded by mu.
	cached   []netip.Prefix
	cachedAt time.Time
}

// New returns a server configured by cfg.
func New(cfg Config) *Server {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	allow := cfg.Allow
	if allow == nil {
		allow = func(string) bool { return false }
	}
	return &Server{
		allow:   allow,
		answer:  cfg.Answer,
		onQuery: cfg.OnQuery,
		log:     log.With("component", "dnsgate"),
		ifaddrs: hostPrefixes,
	}
}
