package egress

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestPinnedUpstreamConnection: an HTTP/1.1 tunnel keeps one upstream
// connection of its own across requests, and a connection the upstream
// dropped while idle is redialled transparently.
func TestPinnedUpstreamConnection(t *testing.T) {
	e := newEnv(t)
	c := e.client(false)
	get := func() {
		t.Helper()
		resp, err := c.Get("https://api.test/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET = %d", resp.StatusCode)
		}
	}
	for range 10 {
		get()
	}
	if n := e.up.opened.Load(); n != 1 {
		t.Errorf("10 requests on one tunnel opened %d upstream connections, want 1", n)
	}
	e.up.srv.CloseClientConnections()
	get()
	get()
	if n := e.up.opened.Load(); n != 2 {
		t.Errorf("after the upstream dropped its connections: %d opened, want 2", n)
	}
	if n := len(e.up.Hits()); n != 12 {
		t.Errorf("upstream saw %d requests, want 12", n)
	}
}

// TestPinnedConnectionPooled: a new tunnel to the same host reuses the
// upstream connection a closed tunnel left idle.
func TestPinnedConnectionPooled(t *testing.T) {
	e := newEnv(t)
	for range 5 {
		c := e.client(false)
		resp, err := c.Get("https://api.test/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.CloseIdleConnections() // closes the tunnel
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.up.opened.Load(); n != 1 {
		t.Errorf("5 tunnels one after another opened %d upstream connections, want 1", n)
	}
}

// TestPinnedCancelUnblocks: when the agent goes away while the upstream
// is slow, the pinned connection is released instead of holding the
// handler until the upstream answers.
func TestPinnedCancelUnblocks(t *testing.T) {
	e := newEnv(t)
	c := e.client(false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://open.test/sse", nil)
	resp, err := c.Do(req)
	if err == nil {
		// Headers arrive at once; the body is held by the upstream.
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a request held by the upstream finished before its deadline")
	}
	// The proxy's handler must finish (and audit the request) while the
	// upstream is still holding the stream.
	released := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !released; time.Sleep(20 * time.Millisecond) {
		e.events.mu.Lock()
		for _, ev := range e.events.ev {
			released = released || ev.Path == "/sse"
		}
		e.events.mu.Unlock()
	}
	if !released {
		t.Error("the proxy kept waiting on the upstream after the agent went away")
	}
	close(e.up.release)
	// The proxy still serves a new request on a new tunnel.
	resp, err = e.client(false).Get("https://api.test/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after a cancelled request: %d", resp.StatusCode)
	}
}
