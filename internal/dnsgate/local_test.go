package dnsgate

import (
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestLocalAddr(t *testing.T) {
	host := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fd00::5/64"),
		netip.MustParsePrefix("172.17.0.5/16"),
		netip.MustParsePrefix("10.9.0.2/24"),
	}
	loopbackOnly := []netip.Prefix{netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.1/8")}
	tests := []struct {
		name   string
		ps     []netip.Prefix
		client string // empty: the zero Addr
		want   string // empty: the zero Addr
	}{
		{"loopback-client", host, "127.0.0.1", "127.0.0.1"},
		{"other-loopback-client", host, "127.0.0.53", "127.0.0.1"},
		{"second-subnet", host, "10.9.0.77", "10.9.0.2"},
		{"first-subnet", host, "172.17.200.1", "172.17.0.5"},
		{"mapped-client", host, "::ffff:10.9.0.77", "10.9.0.2"},
		{"unknown-client", host, "203.0.113.9", "172.17.0.5"},
		{"ipv6-client", host, "fd00::9", "172.17.0.5"},
		{"zero-client", host, "", "172.17.0.5"},
		{"loopback-only-host", loopbackOnly, "203.0.113.9", "127.0.0.1"},
		{"no-ipv4", []netip.Prefix{netip.MustParsePrefix("::1/128")}, "127.0.0.1", ""},
		{"no-addresses", nil, "127.0.0.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var client, want netip.Addr
			if tt.client != "" {
				client = netip.MustParseAddr(tt.client)
			}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got := localAddr(tt.ps, client); got != want {
				t.Errorf("localAddr(%v, %v) = %v, want %v", tt.ps, client, got, want)
			}
		})
	}
}

// TestAnswerForHost uses the real interfaces: every test host has a
// loopback interface.
func TestAnswerForHost(t *testing.T) {
	s := New(Config{})
	if got, want := s.answerFor(netip.MustParseAddr("127.0.0.1")), netip.MustParseAddr("127.0.0.1"); got != want {
		t.Errorf("answerFor(127.0.0.1) = %v, want %v", got, want)
	}
	if got := s.answerFor(netip.MustParseAddr("203.0.113.9")); !got.Is4() || got.IsUnspecified() {
		t.Errorf("answerFor(203.0.113.9) = %v, want some IPv4 address", got)
	}
}

func TestAnswerForConfig(t *testing.T) {
	tests := []struct {
		name   string
		answer netip.Addr
		want   netip.Addr
	}{
		{"ipv4", netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("192.0.2.7")},
		{"mapped", netip.MustParseAddr("::ffff:192.0.2.7"), netip.MustParseAddr("192.0.2.7")},
		{"ipv6", netip.MustParseAddr("2001:db8::1"), netip.Addr{}},
		{"zero", netip.Addr{}, netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{Answer: func(netip.Addr) netip.Addr { return tt.answer }})
			if got := s.answerFor(testClient); got != tt.want {
				t.Errorf("answerFor() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestHandleNoAddress checks that an allowed A query with nothing to answer
// with fails rather than answering something else.
func TestHandleNoAddress(t *testing.T) {
	var got Query
	s := New(Config{
		Allow:   testAllow,
		Answer:  func(netip.Addr) netip.Addr { return netip.MustParseAddr("2001:db8::1") },
		OnQuery: func(q Query) { got = q },
	})
	var m dnsmessage.Message
	if err := m.Unpack(s.Handle(testClient, rawRequest(7, "example", "com"))); err != nil {
		t.Fatalf("unpacking response: %v", err)
	}
	if m.RCode != dnsmessage.RCodeServerFailure || len(m.Answers) != 0 {
		t.Errorf("Handle() = rcode %v with %d answers, want SERVFAIL and none", m.RCode, len(m.Answers))
	}
	if got.Rcode != "SERVFAIL" || !got.Allowed {
		t.Errorf("OnQuery got %+v, want allowed SERVFAIL", got)
	}
}

func TestPrefixesCache(t *testing.T) {
	calls := 0
	lo := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}
	s := New(Config{})
	s.ifaddrs = func() ([]netip.Prefix, error) {
		calls++
		if calls > 1 {
			return nil, errors.New("netlink down")
		}
		return lo, nil
	}
	for range 3 {
		if got := s.prefixes(); len(got) != 1 || got[0] != lo[0] {
			t.Fatalf("prefixes() = %v, want %v", got, lo)
		}
	}
	if calls != 1 {
		t.Errorf("ifaddrs called %d times, want 1 within the cache TTL", calls)
	}
	s.cachedAt = s.cachedAt.Add(-2 * ifaddrsTTL)
	if got := s.prefixes(); len(got) != 1 {
		t.Errorf("prefixes() after a failed refresh = %v, want the stale %v", got, lo)
	}
}
