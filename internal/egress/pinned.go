package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// maxPinnedBody is the largest request body sent on a tunnel's pinned
// connection: the request is written whole before the response is read,
// so a large body goes through the shared transport, which does both at
// once.
const maxPinnedBody = 64 << 10

// pinnedConn is the upstream connection of one HTTP/1.1 agent tunnel. The
// tunnel's requests arrive one at a time, so they are written and read
// inline on the handler's goroutine: no transport goroutines and no
// hand-offs between them, which is most of what a small request costs.
type pinnedConn struct {
	// pool receives the idle connection when the tunnel closes, so that
	// the next tunnel to the same host need not dial and handshake again.
	pool *connPool
	key  string

	mu sync.Mutex
	// conn, br, busy and closed are guarded by mu. conn is nil while a
	// request owns it or before the first dial.
	conn   net.Conn
	br     *bufio.Reader
	busy   bool
	closed bool
}

// close hands the idle connection to the pool; a request in flight drops
// its own.
func (pc *pinnedConn) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.closed = true
	if pc.conn != nil {
		pc.pool.put(pc.key, pc.conn, pc.br)
		pc.conn, pc.br = nil, nil
	}
}

func (pc *pinnedConn) take() (net.Conn, *bufio.Reader, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.busy || pc.closed {
		return nil, nil, false
	}
	pc.busy = true
	c, br := pc.conn, pc.br
	pc.conn, pc.br = nil, nil
	return c, br, true
}

func (pc *pinnedConn) release(c net.Conn, br *bufio.Reader, keep bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.busy = false
	if keep && !pc.closed && c != nil {
		pc.conn, pc.br = c, br
		return
	}
	if c != nil {
		_ = c.Close()
	}
}

// pinnable reports whether r may use a tunnel's pinned connection.
func pinnable(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ContentLength > maxPinnedBody || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody) {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		if strings.Contains(strings.ToLower(v), "upgrade") {
			return false
		}
	}
	return r.Header.Get("Expect") == ""
}

// roundTripPinned sends r on the tunnel's own upstream connection, dialling
// it when needed. A reused connection the upstream closed in the meantime
// is redialled once for requests without a body.
func (t *transport) roundTripPinned(pc *pinnedConn, tg target, r *http.Request) (*http.Response, error) {
	c, br, ok := pc.take()
	if !ok {
		return t.h1.RoundTrip(r)
	}
	if c == nil {
		c, br = pc.pool.get(pc.key)
	}
	for attempt := 0; ; attempt++ {
		reused := c != nil
		if c == nil {
			var err error
			if c, err = t.dialTLS(r.Context(), tg); err != nil {
				pc.release(nil, nil, false)
				return nil, err
			}
			br = bufio.NewReader(c)
		}
		// The connection is read and written inline, so a cancelled
		// request (the agent went away) must unblock it: an expired
		// deadline does, and the connection is then dropped.
		conn := c
		stop := context.AfterFunc(r.Context(), func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		resp, err := sendOn(c, br, r)
		if err == nil {
			resp.Body = &pinnedBody{rc: resp.Body, pc: pc, c: c, br: br, keep: !resp.Close && !r.Close, stop: stop}
			return resp, nil
		}
		stop()
		_ = c.Close()
		c, br = nil, nil
		if !reused || attempt > 0 || (r.Body != nil && r.Body != http.NoBody) || r.Context().Err() != nil {
			pc.release(nil, nil, false)
			return nil, err
		}
	}
}

func sendOn(c net.Conn, br *bufio.Reader, r *http.Request) (*http.Response, error) {
	// Buffered: Request.Write makes a write per header line, and each
	// would be its own TLS record and system call.
	bw := bufio.NewWriterSize(c, 4<<10)
	if err := r.Write(bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	// Informational responses (103 Early Hints, 102) precede the real
	// one: they go to the reverse proxy's trace, as net/http's transport
	// hands them, and are never taken for the response.
	for range max1xx {
		resp, err := http.ReadResponse(br, r)
		if err != nil || resp.StatusCode >= http.StatusOK || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, err
		}
		if trace := httptrace.ContextClientTrace(r.Context()); trace != nil && trace.Got1xxResponse != nil && resp.StatusCode != http.StatusContinue {
			if err := trace.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, err
			}
		}
	}
	return nil, errors.New("too many informational responses from the upstream")
}

// max1xx bounds the informational responses read before the response.
const max1xx = 10

// dialTLS opens a verified HTTP/1.1 TLS connection to the tunnel's host.
func (t *transport) dialTLS(ctx context.Context, tg target) (net.Conn, error) {
	c, err := t.dial(ctx, "tcp", net.JoinHostPort(tg.host, tg.port))
	if err != nil {
		return nil, err
	}
	cfg := upstreamTLS(tg.host, t.roots)
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return tc, nil
}

// connPool keeps the idle connections of closed tunnels for the next
// tunnel to the same host.
type connPool struct {
	mu sync.Mutex
	// idle is guarded by mu, newest last.
	idle map[string][]idleConn
}

type idleConn struct {
	c     net.Conn
	br    *bufio.Reader
	since time.Time
}

const (
	poolPerHost = 32
	poolIdle    = 60 * time.Second
)

func (p *connPool) put(key string, c net.Conn, br *bufio.Reader) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]idleConn{}
	}
	list := p.idle[key]
	if len(list) >= poolPerHost {
		_ = list[0].c.Close()
		list = list[1:]
	}
	p.idle[key] = append(list, idleConn{c: c, br: br, since: time.Now()})
}

// get returns the newest idle connection to key that has not idled too
// long, or nils.
func (p *connPool) get(key string) (net.Conn, *bufio.Reader) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	for len(list) > 0 {
		ic := list[len(list)-1]
		list = list[:len(list)-1]
		if time.Since(ic.since) < poolIdle {
			p.idle[key] = list
			return ic.c, ic.br
		}
		_ = ic.c.Close()
	}
	delete(p.idle, key)
	return nil, nil
}

// closeAll closes every idle connection.
func (p *connPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, list := range p.idle {
		for _, ic := range list {
			_ = ic.c.Close()
		}
	}
	p.idle = nil
}

// pinnedBody hands the connection back when the response has been read to
// its end, and drops it when the reader stops early.
type pinnedBody struct {
	rc   io.ReadCloser
	pc   *pinnedConn
	c    net.Conn
	br   *bufio.Reader
	keep bool
	once sync.Once
	eof  bool
	// stop ends the cancellation watch; it reports false when the watch
	// already fired, and the connection is then unusable.
	stop func() bool
}

func (b *pinnedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
		b.done()
	}
	return n, err
}

func (b *pinnedBody) Close() error {
	err := b.rc.Close()
	b.done()
	return err
}

func (b *pinnedBody) done() {
	b.once.Do(func() {
		intact := b.stop()
		b.pc.release(b.c, b.br, b.keep && b.eof && intact)
	})
}
