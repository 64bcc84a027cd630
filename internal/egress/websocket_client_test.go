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

// TestWebSocketRealClient runs a real WebSocket client and server
// (github.com/coder/websocket), both asking for permessage-deflate,
// through the proxy: the session works uncompressed, long and streamed
// (fragmented) messages pass, and a message with the secret for a host
// it does not belong to closes the connection before the server sees it.
func TestWebSocketRealClient(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var offered []string
	upCA := mustCA(t, "upstream")
	srv := tlsServer(t, upCA, "open.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		offered = append(offered, r.Header.Values("Sec-WebSocket-Extensions")...)
		mu.Unlock()
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
			mu.Lock()
			seen = append(seen, string(msg))
			mu.Unlock()
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}), false)
	roots := rootsOf(upCA)
	pol := mustPolicy(t, dlpPolicy)
	ca := mustCA(t, "t")
	audit := &memAudit{}
	p, err := New(Config{
		Policy: pol, CA: ca, Audit: audit, UpstreamRoots: roots,
		Secrets: map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)},
		Resolve: map[string]string{"open.test": srv.Listener.Addr().String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close(); p.Close() })
	proxyURL, _ := url.Parse(front.URL)
	agentCA := x509.NewCertPool()
	agentCA.AppendCertsFromPEM(ca.CertPEM())
	client := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: agentCA},
		// coder/websocket dials HTTP/1.1 for the upgrade.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "wss://open.test/ws", &websocket.DialOptions{HTTPClient: client, CompressionMode: websocket.CompressionContextTakeover})
	if resp != nil && resp.Body != nil {
		resp.Body.Close() // On success Dial has set it to nil.
	}
	if err != nil {
		t.Fatalf("dial through the proxy: %v", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(4 << 20)
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
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
	wr, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"streamed ", "in ", "parts"} {
		if _, err := wr.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "streamed in parts" {
		t.Fatalf("echo of a streamed message = %q, %v", got, err)
	}
	// The secret, streamed across frames, to a host it does not belong to.
	wr, err = c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = wr.Write([]byte("key=" + testSecret[:6]))
	_, _ = wr.Write([]byte(testSecret[6:]))
	_ = wr.Close()
	if _, got, err := c.Read(ctx); err == nil {
		t.Fatalf("the connection stayed open and answered %q", got)
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the connection was not closed")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("the server received %q", s)
		}
	}
	if len(offered) != 0 {
		t.Errorf("the server saw the extension offer %q", offered)
	}
	if len(seen) != 3 {
		t.Errorf("the server received %d messages, want the 3 clean ones", len(seen))
	}
}
