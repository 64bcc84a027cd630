package dnsgate

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ifaddrsTTL bounds how long the host's interface addresses are cached, so
// that a query flood does not turn into a flood of netlink dumps.
const ifaddrsTTL = 5 * time.Second

// answerFor returns the IPv4 address to answer A queries from client with,
// or the zero Addr when there is none.
func (s *Server) answerFor(client netip.Addr) netip.Addr {
	if s.answer != nil {
		if a := s.answer(client).Unmap(); a.Is4() {
			return a
		}
		return netip.Addr{}
	}
	return localAddr(s.prefixes(), client)
}

// prefixes returns the host's interface addresses, cached for ifaddrsTTL.
func (s *Server) prefixes() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && time.Since(s.cachedAt) < ifaddrsTTL {
		return s.cached
	}
	ps, err := s.ifaddrs()
	if err != nil {
		s.log.Error("listing interface addresses", "err", err)
		return s.cached
	}
	s.cached, s.cachedAt = ps, time.Now()
	return ps
}

// localAddr picks the address to answer A queries from client with, given
// the host's interface addresses ps: the IPv4 address of the interface whose
// subnet contains client, else the first non-loopback IPv4 address, else the
// first IPv4 address at all. It returns the zero Addr when ps holds no IPv4
// address.
func localAddr(ps []netip.Prefix, client netip.Addr) netip.Addr {
	client = client.Unmap()
	var nonLoopback, anyV4 netip.Addr
	for _, p := range ps {
		a := p.Addr()
		if !a.Is4() {
			continue
		}
		if client.IsValid() && p.Contains(client) {
			return a
		}
		if !anyV4.IsValid() {
			anyV4 = a
		}
		if !nonLoopback.IsValid() && !a.IsLoopback() {
			nonLoopback = a
		}
	}
	if nonLoopback.IsValid() {
		return nonLoopback
	}
	return anyV4
}

// hostPrefixes lists the host's interface addresses with their subnets.
func hostPrefixes() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing interface addresses: %w", err)
	}
	ps := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ones, bits := n.Mask.Size()
		ip = ip.Unmap()
		if ip.Is4() && bits == 128 {
			ones -= 96
		}
		if p := netip.PrefixFrom(ip, ones); p.IsValid() {
			ps = append(ps, p)
		}
	}
	return ps, nil
}
