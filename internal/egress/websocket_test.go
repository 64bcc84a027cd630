package egress

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
)

// TestWebSocketUpgrade upgrades a connection on an allowed route and
// exchanges bytes both ways through the tunnel; the upgrade request got
// the route's credential like any other.
func TestWebSocketUpgrade(t *testing.T) {
	e := newEnv(t)
	tc := tunnelTLS(t, e, "open.test", &tls.Config{ServerName: "open.test", RootCAs: e.agentCA, NextProtos: []string{"http/1.1"}})
	fmt.Fprint(tc, "GET /ws HTTP/1.1\r\nHost: open.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	tbr := bufio.NewReader(tc)
	resp, err := http.ReadResponse(tbr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade = %d, want 101", resp.StatusCode)
	}
	fmt.Fprint(tc, "ping\n")
	line, err := tbr.ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
}
