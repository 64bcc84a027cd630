//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

const (
	// bannerWait is how long a TCP probe waits for the peer to speak
	// once connected; the connection counts either way.
	bannerWait = 500 * time.Millisecond
	// udpWait is how long a UDP probe waits for a reply.
	udpWait = time.Second
)

// probeTCP connects to target: reached as soon as the connection is
// established. It reports up to 64 bytes the peer sends first.
func probeTCP(ctx context.Context, target string) hits.ProbeResult {
	r := hits.ProbeResult{Op: hits.OpTCP, Target: target}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
	if err != nil {
		r.Detail = errDetail(err)
		return r
	}
	defer func() { _ = c.Close() }()
	r.Reached = true
	_ = c.SetReadDeadline(time.Now().Add(bannerWait))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	r.Detail = fmt.Sprintf("connected %s -> %s; read %q", c.LocalAddr(), c.RemoteAddr(), buf[:n])
	return r
}

// probeUDP sends "probe" to target and waits a second for a reply: only a
// reply counts as reached, since an unanswered datagram proves nothing.
func probeUDP(ctx context.Context, target string) hits.ProbeResult {
	r := hits.ProbeResult{Op: hits.OpUDP, Target: target}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "udp", target)
	if err != nil {
		r.Detail = errDetail(err)
		return r
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(udpWait))
	if _, err := c.Write([]byte("probe")); err != nil {
		r.Detail = "send: " + errDetail(err)
		return r
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		r.Detail = fmt.Sprintf("sent from %s; refused (ICMP port unreachable)", c.LocalAddr())
	case err != nil:
		r.Detail = fmt.Sprintf("sent from %s; no reply: %s", c.LocalAddr(), errDetail(err))
	default:
		r.Reached = true
		r.Detail = fmt.Sprintf("reply %q from %s", buf[:n], c.RemoteAddr())
	}
	return r
}
