package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// TestSuperviseThroughTheSidecar runs the whole loop in one sidecar: the
// agent's MCP client asks on the proxy port, the host decides on the
// control channel, the grant is in force at once for egress and survives
// a host replace of the base policy, and the refusal and the grant are in
// the audit.
func TestSuperviseThroughTheSidecar(t *testing.T) {
	upCA, err := egress.NewCA("up")
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	var certs []tls.Certificate
	for _, h := range []string{"api.test", "new.test"} {
		c, _ := upCA.Leaf(h)
		certs = append(certs, *c)
	}
	up.TLS = &tls.Config{Certificates: certs}
	up.StartTLS()
	defer up.Close()
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "bbsup") //nolint:usetesting // t.TempDir is too long a path for a Unix socket
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "c.sock")
	token := secret.New(strings.Repeat("s", 64))
	pol, err := policy.Parse([]byte(fmt.Sprintf(policyJSON, "api.test", "api.test")))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]secret.Value{"EGRESS_TOKEN_0": secret.New("the-secret")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Listen: "127.0.0.1:0", CADir: filepath.Join(dir, "ca"), UpstreamCAPEM: upCA.CertPEM(),
			Audit:   filepath.Join(dir, "audit.jsonl"),
			Resolve: map[string]string{"api.test": up.Listener.Addr().String(), "new.test": up.Listener.Addr().String()},
			Control: "unix:" + sock, ControlToken: token,
			Load:  func() (*policy.Policy, map[string]secret.Value, error) { return pol, secrets, nil },
			Ready: func(a net.Addr, _ *egress.CA, _ *policy.Policy) { ready <- a },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca", egress.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	proxyURL, _ := url.Parse("http://" + addr.String())
	agent := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := agent.Get(u)
		if err != nil && strings.Contains(err.Error(), "Forbidden") {
			return 403, ""
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://new.test/v1/thing"); code != 403 || !strings.Contains(body, "request_route") {
		t.Fatalf("GET new.test before = %d %q, want a 403 naming request_route", code, body)
	}
	host := control.NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}, token)
	defer host.Close()

	// Both ways the agent may reach the server: straight to the proxy
	// port, and through the proxy by name.
	for i, via := range []struct {
		endpoint string
		client   *http.Client
	}{
		{"http://" + addr.String() + "/mcp", &http.Client{}},
		{"http://" + egress.IntrospectionHost + "/mcp", agent},
	} {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: via.endpoint, HTTPClient: via.client, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
		if err != nil {
			t.Fatalf("connecting to %s: %v", via.endpoint, err)
		}
		path := fmt.Sprintf("/v%d/", i+1)
		res := make(chan *mcp.CallToolResult, 1)
		go func() {
			r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "request_route", Arguments: map[string]any{"host": "new.test", "paths": []map[string]string{{"type": "prefix", "value": path}}, "methods": []string{"GET"}, "reason": "docs"}})
			if err != nil {
				t.Error(err)
			}
			res <- r
		}()
		var id string
		for id == "" {
			ps, err := host.Proposals(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if p.Status == supervise.StatusPending {
					id = p.ID
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := host.Decide(ctx, id, supervise.Verdict{Approve: true, By: "op@test"}); err != nil {
			t.Fatal(err)
		}
		r := <-res
		out, _ := json.Marshal(r.StructuredContent)
		if r.IsError || !strings.Contains(string(out), `"status":"approved"`) {
			t.Fatalf("request_route via %s = %s", via.endpoint, out)
		}
		_ = cs.Close()
		if code, _ := get("https://new.test" + path + "x"); code != 200 {
			t.Errorf("GET of the route granted via %s = %d", via.endpoint, code)
		}
	}
	if code, _ := get("https://new.test/v3/x"); code != 403 {
		t.Errorf("GET outside the grants = %d, want 403", code)
	}
	// A host replace changes the base; the grants stay over it.
	if _, err := host.Replace(ctx, pol, nil); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("https://new.test/v1/x"); code != 200 {
		t.Errorf("GET of a granted route after a replace = %d", code)
	}
	got, err := host.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Lookup("new.test"); !ok {
		t.Error("the policy in force does not show the grants")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	audit, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"decision":"proposed"`, `"decision":"approved"`, `"by":"op@test"`, `"diff":["+ `} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("the audit lacks %s", want)
		}
	}
	if strings.Contains(string(audit), "the-secret") {
		t.Error("the audit holds the secret")
	}
}
