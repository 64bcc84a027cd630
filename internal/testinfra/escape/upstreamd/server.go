package main

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// config says where upstreamd listens. An empty address turns that
// listener off; tests pass "127.0.0.1:0".
type config struct {
	HTTPS   string
	HTTP    string
	TCP     []string
	UDP     []string
	DNS     string // UDP and TCP
	Control string
	// ICMP asks for a raw ICMP socket to record echo requests.
	ICMP bool
	// DNSAnswer is the address A queries get; nil means the DNS
	// listener's own address.
	DNSAnswer net.IP
	// Cert is the HTTPS listener's leaf; required when HTTPS is set.
	Cert *tls.Certificate
	Log  *slog.Logger
}

// server is a running upstreamd: every listener of a config, all bound
// before start returns.
type server struct {
	log   *slog.Logger
	rec   *recorder
	dnsIP net.IP
	wg    sync.WaitGroup

	mu sync.Mutex
	// closers and closed are guarded by mu.
	closers map[io.Closer]struct{}
	closed  bool

	// Bound addresses; nil or empty when off.
	httpsAddr, httpAddr, controlAddr net.Addr
	dnsUDPAddr, dnsTCPAddr           net.Addr
	tcpAddrs, udpAddrs               []net.Addr
}

// start binds every listener of cfg and serves them until close.
func start(cfg config) (_ *server, err error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{log: log, rec: &recorder{log: log}, closers: map[io.Closer]struct{}{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if cfg.HTTPS != "" {
		if cfg.Cert == nil {
			return nil, errors.New("the HTTPS listener needs --cert and --key")
		}
		if s.httpsAddr, err = s.serveHTTP(cfg.HTTPS, cfg.Cert); err != nil {
			return nil, err
		}
	}
	if cfg.HTTP != "" {
		if s.httpAddr, err = s.serveHTTP(cfg.HTTP, nil); err != nil {
			return nil, err
		}
	}
	for _, a := range cfg.TCP {
		ln, err := s.listenTCP(a)
		if err != nil {
			return nil, err
		}
		s.tcpAddrs = append(s.tcpAddrs, ln.Addr())
		s.wg.Go(func() { s.acceptLoop(ln, s.hello) })
	}
	for _, a := range cfg.UDP {
		pc, err := s.listenUDP(a)
		if err != nil {
			return nil, err
		}
		s.udpAddrs = append(s.udpAddrs, pc.LocalAddr())
		s.wg.Go(func() { s.echo(pc) })
	}
	if cfg.DNS != "" {
		if err := s.serveDNS(cfg.DNS, cfg.DNSAnswer); err != nil {
			return nil, err
		}
	}
	if cfg.ICMP {
		s.recordICMP()
	} else {
		log.Warn("icmp recording off: not asked for")
	}
	if cfg.Control != "" {
		if s.controlAddr, err = s.serveControl(cfg.Control); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// track registers c to be closed by close; it reports false, and closes
// c, if the server is already closed.
func (s *server) track(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return false
	}
	s.closers[c] = struct{}{}
	return true
}

func (s *server) untrack(c io.Closer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.closers, c)
}

// close stops every listener and connection and waits for their
// goroutines.
func (s *server) close() {
	s.mu.Lock()
	s.closed = true
	cs := s.closers
	s.closers = nil
	s.mu.Unlock()
	for c := range cs {
		_ = c.Close()
	}
	s.wg.Wait()
}

// listenTCP binds addr; every connection it accepts is recorded as a tcp
// hit.
func (s *server) listenTCP(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if !s.track(ln) {
		return nil, net.ErrClosed
	}
	return &recordingListener{Listener: ln, rec: s.rec}, nil
}

func (s *server) listenUDP(addr string) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	if !s.track(pc) {
		return nil, net.ErrClosed
	}
	return pc, nil
}

// acceptLoop serves each connection of ln with handle, closing it after.
func (s *server) acceptLoop(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.log.Warn("accept", "addr", ln.Addr().String(), "err", err.Error())
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !s.track(c) {
			return
		}
		s.wg.Go(func() {
			defer s.untrack(c)
			defer func() { _ = c.Close() }()
			handle(c)
		})
	}
}

// recordingListener records a tcp hit for every connection it accepts.
type recordingListener struct {
	net.Listener
	rec *recorder
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		// Unwrapped: http.Server retries on a temporary net.Error.
		return nil, err
	}
	l.rec.add(tcpHit(c))
	return c, nil
}
