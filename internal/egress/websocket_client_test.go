package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// realWS is a real WebSocket echo server (github.com/coder/websocket)
// for one host, asking for permessage-deflate, behind a proxy.
type realWS struct {
	client *http.Client
	audit  *memAudit
	mu     sync.Mutex
	// seen and offered are guarded by mu: the messages the server got,
	// and the extensions offered to it.
	seen, offered []string
}

func newRealWS(t *testing.T, pol, host string) *realWS {
	t.Helper()
	s := &realWS{audit: &memAudit{}}
	upCA := mustCA(t, "upstream")
	srv := tlsServer(t, upCA, host, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.offered = append(s.offered, r.Header.Values("Sec-WebSocket-Extensions")...)
		s.mu.Unlock()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionContextTakeover})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(4 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			s.mu.Lock()
			s.seen = append(s.seen, string(msg))
			s.mu.Unlock()
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}), false)
	ca := mustCA(t, "t")
	p, err := New(Config{
		Policy: mustPolicy(t, pol), CA: ca, Audit: s.audit, UpstreamRoots: rootsOf(upCA),
		Secrets: map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)},
		Resolve: map[string]string{host: srv.Listener.Addr().String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close(); p.Close() })
	proxyURL, _ := url.Parse(front.URL)
	agentCA := x509.NewCertPool()
	agentCA.AppendCertsFromPEM(ca.CertPEM())
	s.client = &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: agentCA},
		// coder/websocket dials HTTP/1.1 for the upgrade.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	return s
}

// dial opens a session through the proxy and returns the handshake
// response's header.
func (s *realWS) dial(ctx context.Context, t *testing.T, u string) (*websocket.Conn, http.Header) {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: s.client, CompressionMode: websocket.CompressionContextTakeover})
	if resp != nil && resp.Body != nil {
		resp.Body.Close() // On success Dial has set it to nil.
	}
	if err != nil {
		t.Fatalf("dial through the proxy: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(4 << 20)
	return c, resp.Header
}

func (s *realWS) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// streamed writes parts as one message of several frames.
func streamed(ctx context.Context, t *testing.T, c *websocket.Conn, typ websocket.MessageType, parts ...string) {
	t.Helper()
	wr, err := c.Writer(ctx, typ)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range parts {
		if _, err := wr.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWebSocketRealClient runs a real WebSocket client and server
// (github.com/coder/websocket), both asking for permessage-deflate,
// through the proxy: the session works uncompressed, long and streamed
// (fragmented) messages pass, and a message with the secret for a host
// it does not belong to closes the connection with 1008 before the
// server sees it.
func TestWebSocketRealClient(t *testing.T) {
	s := newRealWS(t, dlpPolicy, "open.test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, h := s.dial(ctx, t, "wss://open.test/ws")
	if ext := h.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Errorf("the session negotiated %q", ext)
	}
	long := strings.Repeat("a clean line of text\n", 50_000)
	for _, m := range []string{"hello", long} {
		if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != m {
			t.Fatalf("echo of %d bytes = %d bytes, %v", len(m), len(got), err)
		}
	}
	// A streamed message goes out as several frames.
	streamed(ctx, t, c, websocket.MessageText, "streamed ", "in ", "parts")
	if _, got, err := c.Read(ctx); err != nil || string(got) != "streamed in parts" {
		t.Fatalf("echo of a streamed message = %q, %v", got, err)
	}
	// The secret, streamed across frames, to a host it does not belong to.
	streamed(ctx, t, c, websocket.MessageText, "key="+testSecret[:6], testSecret[6:])
	if _, got, err := c.Read(ctx); err == nil {
		t.Fatalf("the connection stayed open and answered %q", got)
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the connection was not closed")
	} else if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("the connection ended with %v, want a 1008 close", err)
	}
	seen := s.messages()
	for _, m := range seen {
		if strings.Contains(m, "s3cr3t") {
			t.Errorf("the server received %q", m)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.offered) != 0 {
		t.Errorf("the server saw the extension offer %q", s.offered)
	}
	if len(seen) != 3 {
		t.Errorf("the server received %d messages, want the 3 clean ones", len(seen))
	}
}

// TestWebSocketRealClientRedact: on a redact route the real client's
// messages with a token reach the server redacted, whole and streamed,
// text and binary, and the session goes on and closes normally; its
// audit event counts both ways.
func TestWebSocketRealClientRedact(t *testing.T) {
	s := newRealWS(t, dlpPolicy, "redact.test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _ := s.dial(ctx, t, "wss://redact.test/ws")
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"token":"`+ghToken+`"}`)); err != nil {
		t.Fatal(err)
	}
	if typ, got, err := c.Read(ctx); err != nil || typ != websocket.MessageText || string(got) != `{"token":"[REDACTED]"}` {
		t.Fatalf("echo = %v %q, %v", typ, got, err)
	}
	streamed(ctx, t, c, websocket.MessageBinary, "token=", ghToken[:10], ghToken[10:])
	if typ, got, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || string(got) != "token=[REDACTED]" {
		t.Fatalf("echo of a streamed message = %v %q, %v", typ, got, err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("clean")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "clean" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Errorf("closing: %v", err)
	}
	for _, m := range s.messages() {
		if strings.Contains(m, "ghp_") {
			t.Errorf("the server received %q", m)
		}
	}
	var ev Event
	waitFor(t, func() bool {
		s.audit.mu.Lock()
		defer s.audit.mu.Unlock()
		for _, e := range s.audit.ev {
			if e.Method == "websocket" {
				ev = e
				return true
			}
		}
		return false
	}, "no websocket audit event")
	if w := ev.WebSocket; ev.Status != http.StatusSwitchingProtocols || w == nil || w.Redacted != 2 || w.FramesOut < 4 || w.FramesIn < 4 || ev.Rule != RuleRedacted {
		t.Errorf("audit event = %+v %+v", ev, w)
	}
}
