package dnsgate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

const (
	// tcpIdleTimeout bounds how long a TCP connection may sit between (or
	// within) messages.
	tcpIdleTimeout = 10 * time.Second
	// maxTCPConns bounds concurrent TCP connections; more are closed on
	// accept.
	maxTCPConns = 64
)

// Serve answers queries on pc (UDP) and ln (TCP); either may be nil. It
// returns when ctx ends, with nil, or when every given transport has failed,
// with their errors. It closes pc, ln and every TCP connection once ctx
// ends; the caller closes them otherwise.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	if pc == nil && ln == nil {
		return errors.New("serving dns: no listener")
	}
	// One loop's end ends the other: a resolver serving half its
	// transports must not look healthy to whoever restarts it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var udpErr, tcpErr error
	if pc != nil {
		stop := context.AfterFunc(ctx, func() { _ = pc.Close() })
		defer stop()
		wg.Go(func() { udpErr = s.serveUDP(ctx, pc); cancel() })
	}
	if ln != nil {
		stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
		defer stop()
		wg.Go(func() { tcpErr = s.serveTCP(ctx, ln); cancel() })
	}
	wg.Wait()
	return errors.Join(udpErr, tcpErr)
}

// serveUDP reads and answers datagrams on one goroutine; Handle is cheap.
func (s *Server) serveUDP(ctx context.Context, pc net.PacketConn) error {
	buf := make([]byte, 64*1024)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading dns over udp: %w", err)
		}
		resp := s.Handle(addrOf(addr), buf[:n])
		if resp == nil {
			continue
		}
		if _, err := pc.WriteTo(resp, addr); err != nil {
			s.log.Debug("writing dns response", "client", addr.String(), "err", err)
		}
	}
}

// serveTCP accepts connections, serving at most maxTCPConns at once.
func (s *Server) serveTCP(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	// Cancelling before the wait closes the open connections when accepting
	// fails. The accept loop checks the caller's ctx, not connCtx: a
	// parent's cancellation reaches its children in no set order, so the
	// listener may be closed before connCtx is marked done.
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, maxTCPConns)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accepting dns over tcp: %w", err)
		}
		select {
		case sem <- struct{}{}:
		default:
			s.log.Debug("too many dns connections", "client", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			s.serveConn(connCtx, c)
		})
	}
}

// serveConn answers length-prefixed queries on c until it is idle for
// tcpIdleTimeout, sends something unanswerable, or ctx ends.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer func() { _ = c.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()

	client := addrOf(c.RemoteAddr())
	var size [2]byte
	for {
		if err := c.SetDeadline(time.Now().Add(tcpIdleTimeout)); err != nil {
			return
		}
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		req := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		resp := s.Handle(client, req)
		if resp == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(resp)), uint16(len(resp))) //nolint:gosec // G115: a response is at most a few hundred bytes.
		if _, err := c.Write(append(out, resp...)); err != nil {
			s.log.Debug("writing dns response", "client", client, "err", err)
			return
		}
	}
}

// addrOf returns the IP address of a UDP or TCP peer, or the zero Addr.
func addrOf(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
