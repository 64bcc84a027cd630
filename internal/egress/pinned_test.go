package egress

import (
	"io"
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
