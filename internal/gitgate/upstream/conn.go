package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"golang.org/x/crypto/ssh"
)

// Services the gate runs on the upstream.
const (
	uploadPack  = "git-upload-pack"
	receivePack = "git-receive-pack"
)

// conn is one SSH connection running one git service.
type conn struct {
	ctx    context.Context
	client *ssh.Client
	sess   *ssh.Session
	stdin  io.WriteCloser
	in     *bufio.Writer // buffers stdin: the pack encoder writes in small pieces
	stdout io.Reader
	stderr *tail
	stop   func() bool // unregisters the context watch
	waited bool
	// idle cuts the connection when it carries nothing for its limit.
	idle *idleConn
}

// idleConn is a connection whose deadline every read and write moves
// limit ahead, once armed (after the handshake, which has its own).
type idleConn struct {
	net.Conn
	limit time.Duration
	armed atomic.Bool
	// cut is set once a read or write ran into the deadline.
	cut atomic.Bool
}

func (c *idleConn) Read(b []byte) (int, error) {
	c.extend()
	n, err := c.Conn.Read(b)
	c.note(err)
	return n, err
}

func (c *idleConn) Write(b []byte) (int, error) {
	c.extend()
	n, err := c.Conn.Write(b)
	c.note(err)
	return n, err
}

func (c *idleConn) extend() {
	if c.armed.Load() {
		_ = c.SetDeadline(time.Now().Add(c.limit))
	}
}

func (c *idleConn) note(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && c.armed.Load() {
		c.cut.Store(true)
	}
}

// arm starts the idle deadline.
func (c *idleConn) arm() {
	c.armed.Store(true)
	c.extend()
}

// open dials the upstream, checks its host key, authenticates and starts
// service on the repository's path. stderr of the service goes to
// progress (nil discards it) and is kept for error messages.
func (u *SSH) open(ctx context.Context, service string, progress io.Writer) (*conn, error) {
	if u.hostKey == nil {
		return nil, u.noHostKey()
	}
	addr := net.JoinHostPort(u.cfg.Host, strconv.Itoa(u.cfg.Port))
	dctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	nc, err := u.dial(dctx, "tcp", addr)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("dialling %s: %w", addr, err))
	}
	// The handshake takes no context: a deadline bounds it, and the end
	// of ctx closes the connection whatever it is doing.
	_ = nc.SetDeadline(time.Now().Add(u.cfg.Timeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	// Once up, a connection that carries nothing either way for
	// IdleTimeout is cut: the handshake's deadline is replaced by one
	// that every read and write moves.
	idle := &idleConn{Conn: nc, limit: u.cfg.IdleTimeout}
	sc, chans, reqs, err := ssh.NewClientConn(idle, addr, u.clientConfig())
	if err != nil {
		stop()
		_ = nc.Close()
		if strings.Contains(err.Error(), "unable to authenticate") {
			// x/crypto/ssh has no typed error for it; say what to check.
			return nil, ctxErr(ctx, fmt.Errorf("connecting to %s as %s: %w; is the deploy key registered on the upstream repository?", addr, u.cfg.User, err))
		}
		return nil, ctxErr(ctx, fmt.Errorf("connecting to %s: %w", addr, err))
	}
	_ = nc.SetDeadline(time.Time{})
	idle.arm()
	c := &conn{ctx: ctx, client: ssh.NewClient(sc, chans, reqs), stop: stop, stderr: &tail{w: progress}, idle: idle}
	if err := c.start(service, u.cfg.Path); err != nil {
		c.close()
		return nil, ctxErr(ctx, fmt.Errorf("starting %s on %s: %w", service, addr, err))
	}
	return c, nil
}

func (c *conn) start(service, path string) error {
	sess, err := c.client.NewSession()
	if err != nil {
		return err
	}
	c.sess = sess
	if c.stdin, err = sess.StdinPipe(); err != nil {
		return err
	}
	c.in = bufio.NewWriterSize(c.stdin, 64<<10)
	if c.stdout, err = sess.StdoutPipe(); err != nil {
		return err
	}
	sess.Stderr = c.stderr
	return sess.Start(service + " " + shellQuote(path))
}

// advertisement reads the refs and capabilities the service advertises.
// It returns an empty AdvRefs for an empty repository.
func (c *conn) advertisement() (*packp.AdvRefs, error) {
	ar := packp.NewAdvRefs()
	err := ar.Decode(c.stdout)
	if errors.Is(err, packp.ErrEmptyAdvRefs) {
		return ar, nil // upload-pack of an empty repository: a lone flush
	}
	if err != nil {
		return nil, c.fail("reading the advertisement", err)
	}
	if f := ar.Capabilities.Get(capability.ObjectFormat); len(f) > 0 && f[0] != "sha1" {
		return nil, fmt.Errorf("upstream uses object format %s; only sha1 is supported", f[0])
	}
	return ar, nil
}

// flush ends a request, or the whole session when sent first.
func (c *conn) flush() error {
	return pktline.NewEncoder(c.in).Flush()
}

// testHookBeforeClose, set by tests only, runs between a request's last
// write and the close of stdin: where the upstream's exit races the close.
var testHookBeforeClose func()

// send flushes what is buffered and closes stdin: the request is
// complete. A service that read the request and exited has closed the
// channel before the close arrives, which says io.EOF: that is no
// failure, and wait reports a service that failed.
func (c *conn) send() error {
	if err := c.in.Flush(); err != nil {
		return err
	}
	if hook := testHookBeforeClose; hook != nil {
		hook()
	}
	if err := c.stdin.Close(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// wait waits for the service to exit and returns its failure with what
// it printed.
func (c *conn) wait() error {
	c.waited = true
	if err := c.sess.Wait(); err != nil {
		return c.fail("upstream exited", err)
	}
	return nil
}

// failGrace is how long fail waits for a failed service's last words.
const failGrace = 5 * time.Second

// fail wraps err from op with the end of the upstream's stderr, which is
// where git says what went wrong, and with ctx's end when it caused err.
func (c *conn) fail(op string, err error) error {
	if !c.waited {
		// The service has exited or will, once stdin closes: its last
		// words are then all in. One that lingers is cut off.
		_ = c.stdin.Close()
		c.waited = true
		t := time.AfterFunc(failGrace, func() { _ = c.client.Close() })
		_ = c.sess.Wait()
		t.Stop()
	}
	switch {
	case c.idle != nil && c.idle.cut.Load():
		// What the cut connection said (EOF, a closed pipe) hides it.
		err = fmt.Errorf("the upstream sent and took nothing for %s, so the gate closed the connection: %w", c.idle.limit, err)
	case closedEarly(err) && c.stderr.String() == "":
		// A connection that ended without a word: say who ended it.
		return ctxErr(c.ctx, fmt.Errorf("the upstream closed the connection during %s: %w", strings.TrimPrefix(op, "the "), err))
	}
	if msg := c.stderr.String(); msg != "" {
		err = fmt.Errorf("%s: %w (upstream said: %s)", op, err, msg)
	} else {
		err = fmt.Errorf("%s: %w", op, err)
	}
	return ctxErr(c.ctx, err)
}

// closedEarly reports an error that means the stream ended before the
// exchange did.
func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, packp.ErrEmptyInput) || errors.Is(err, packfile.ErrEmptyPackfile)
}

// close ends the connection and waits until nothing more is written to
// progress.
func (c *conn) close() {
	c.stop()
	_ = c.client.Close()
	if c.sess != nil && !c.waited {
		c.waited = true
		_ = c.sess.Wait() // joins the stderr copy, which the close ended
	}
}

// ctxErr puts ctx's end in front of err when ctx ended: a closed
// connection is then a symptom, not the cause.
func ctxErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// shellQuote quotes s for the remote shell as git's sq_quote_buf does:
// in single quotes, with each ' or ! written as a closing quote, a
// backslash-escaped ' or !, and an opening quote.
func shellQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '!' {
			b.WriteString(`'\`)
			b.WriteByte(s[i])
			b.WriteByte('\'')
			continue
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// tail forwards the upstream's stderr to w, line by line as it comes,
// and keeps its last bytes for error messages. Writes are serialised
// with those of the side-band, which share w.
type tail struct {
	mu  sync.Mutex
	w   io.Writer // nil discards
	buf []byte    // guarded by mu
}

const tailMax = 512

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = t.buf[len(t.buf)-tailMax:]
	}
	if t.w != nil {
		_, _ = t.w.Write(p) // progress is best effort
	}
	return len(p), nil
}

// sidebandWriter writes side-band progress to the tail's destination,
// serialised with stderr, without keeping it.
type sidebandWriter struct{ t *tail }

func (s sidebandWriter) Write(p []byte) (int, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.t.w != nil {
		_, _ = s.t.w.Write(p) // progress is best effort
	}
	return len(p), nil
}

// String returns the kept stderr on one line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(t.buf), "?")), " ")
}
