// Package gittest runs a real git server over SSH for tests: an
// x/crypto/ssh server that executes the git binary's upload-pack and
// receive-pack on bare repositories kept under a temporary root.
//
// It is for tests only and must never be imported by production code. It
// listens only where a test tells it (loopback by default), serves only
// paths under its root, and leaves no goroutine or process behind once
// the test ends.
package gittest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Option configures Start.
type Option func(*options)

type options struct {
	addr string
}

// WithAddr makes the server listen on addr (host:port, port 0 for any)
// instead of 127.0.0.1:0, such as a Docker network's gateway address that
// a container can reach.
func WithAddr(addr string) Option {
	return func(o *options) { o.addr = addr }
}

// Server is a running SSH git server.
type Server struct {
	// Addr is the host:port the server listens on.
	Addr string
	// Host and Port are Addr's parts.
	Host string
	Port int
	// HostKey is the server's public host key as "ssh-ed25519 AAAA...",
	// the form known_hosts holds after the host field.
	HostKey string
	// ClientKey is an OpenSSH PEM private key the server accepts.
	ClientKey secret.Value

	t      testing.TB
	root   string
	cfg    *ssh.ServerConfig
	ln     net.Listener
	ctx    context.Context // ends every git process when the test ends
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server starts

	mu sync.Mutex
	// config is passed to every git service as GIT_CONFIG_* pairs.
	config []string
	// authorized, conns, closed, authAttempts and execs are guarded by mu.
	authorized   map[string]bool // by ssh.PublicKey.Marshal
	conns        map[net.Conn]struct{}
	closed       bool
	authAttempts int
	execs        []string
}

// Start starts a server with a fresh ed25519 host key and one authorized
// client key (ClientKey). It stops when t ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := options{addr: "127.0.0.1:0"}
	for _, f := range opts {
		f(&o)
	}

	hostSigner, hostPub := newSigner(t)
	clientPEM, clientPub := NewKey(t)
	s := &Server{
		HostKey:    strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub))),
		ClientKey:  clientPEM,
		t:          t,
		root:       t.TempDir(),
		authorized: map[string]bool{},
		conns:      map[net.Conn]struct{}{},
	}
	s.AuthorizeKey(clientPub)
	s.cfg = &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
	s.cfg.AddHostKey(hostSigner)

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		t.Fatalf("gittest: listening on %s: %v", o.addr, err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	s.wg.Go(s.serve)
	t.Cleanup(s.close)
	return s
}

// NewKey returns a fresh ed25519 key: the private key as OpenSSH PEM and
// the public key in authorized_keys form. Pass the latter to AuthorizeKey,
// or leave it out to test a refused client.
func NewKey(t testing.TB) (private secret.Value, authorizedKey string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("gittest: generating key: %v", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatalf("gittest: marshalling key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("gittest: signer: %v", err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	return secret.New(string(pem.EncodeToMemory(block))), pub
}

func newSigner(t testing.TB) (ssh.Signer, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("gittest: generating host key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("gittest: host signer: %v", err)
	}
	return signer, signer.PublicKey()
}

// AuthorizeKey makes the server accept authorizedKey, a line in
// authorized_keys form ("ssh-ed25519 AAAA... comment").
func (s *Server) AuthorizeKey(authorizedKey string) {
	s.t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		s.t.Fatalf("gittest: AuthorizeKey(%q): %v", authorizedKey, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized[string(pub.Marshal())] = true
}

// SetGitConfig gives the git services the server runs from now on the
// configuration KEY=VALUE pairs, as protected (command-line) config:
// hooks such as uploadpack.packObjectsHook, and keep-alives, for the
// fault tests.
func (s *Server) SetGitConfig(pairs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.config = slices.Clone(pairs)
}

// AuthAttempts returns how many public keys clients have offered. It is
// zero after a client that refused the host key, which never gets as far
// as authenticating.
func (s *Server) AuthAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authAttempts
}

// Execs returns the exec requests the server accepted, in order, such as
// "git-receive-pack '/team/app.git'".
func (s *Server) Execs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.execs...)
}

func (s *Server) checkKey(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authAttempts++
	if s.authorized[string(key.Marshal())] {
		return &ssh.Permissions{}, nil
	}
	return nil, errors.New("gittest: key not authorized")
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // the listener is closed
		}
		if !s.track(c) {
			_ = c.Close()
			return
		}
		s.wg.Go(func() {
			defer s.untrack(c)
			s.serveConn(c)
		})
	}
}

// track records c so close can end it; it refuses c once closing began.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	_ = c.Close()
}

func (s *Server) serveConn(c net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		return // a refused host key or client key ends here
	}
	defer func() { _ = sc.Close() }()
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "gittest: only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		s.wg.Go(func() { s.session(ch, creqs) })
	}
}

// close stops the server: no new connection, every git process killed,
// every connection closed, every goroutine joined.
func (s *Server) close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	_ = s.ln.Close()
	s.cancel()
	for _, c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
}
