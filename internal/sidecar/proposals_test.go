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
	r := startSupervised(t, fmt.Sprintf(policyJSON, "api.test", "api.test"))
	ctx := context.Background()
	addr, agent, host, pol := r.addr, r.agent, r.host, r.pol
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
	audit := r.stop(t)
	for _, want := range []string{`"decision":"proposed"`, `"decision":"approved"`, `"by":"op@test"`, `"diff":["+ `} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit lacks %s", want)
		}
	}
	if strings.Contains(audit, "the-secret") {
		t.Error("the audit holds the secret")
	}
}

// supRig is one sidecar with a control channel, an upstream for api.test
// and new.test, and an agent's client of the proxy.
type supRig struct {
	addr   net.Addr
	agent  *http.Client
	host   *control.Client
	dir    string
	bodies chan string
	pol    *policy.Policy
	cancel context.CancelFunc
	done   chan error
}

func startSupervised(t *testing.T, doc string) *supRig {
	t.Helper()
	upCA, err := egress.NewCA("up")
	if err != nil {
		t.Fatal(err)
	}
	bodies := make(chan string, 16)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			bodies <- string(b)
		}
		fmt.Fprint(w, "ok")
	}))
	var certs []tls.Certificate
	for _, h := range []string{"api.test", "new.test"} {
		c, _ := upCA.Leaf(h)
		certs = append(certs, *c)
	}
	up.TLS = &tls.Config{Certificates: certs}
	up.StartTLS()
	t.Cleanup(up.Close)
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "bbsup") //nolint:usetesting // t.TempDir is too long a path for a Unix socket
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "c.sock")
	token := secret.New(strings.Repeat("s", 64))
	pol, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]secret.Value{"EGRESS_TOKEN_0": secret.New("the-secret")}
	ctx, cancel := context.WithCancel(context.Background())
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
		cancel()
		t.Fatalf("Run: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca", egress.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	proxyURL, _ := url.Parse("http://" + addr.String())
	host := control.NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}, token)
	r := &supRig{
		addr: addr, dir: dir, bodies: bodies, pol: pol, cancel: cancel, done: done, host: host,
		agent: &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 20 * time.Second},
	}
	t.Cleanup(func() {
		host.Close()
		cancel()
		<-done
	})
	return r
}

// stop ends the sidecar and returns its audit log.
func (r *supRig) stop(t *testing.T) string {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil
	audit, err := os.ReadFile(filepath.Join(r.dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return string(audit)
}

// pendingID waits for the one pending proposal.
func (r *supRig) pendingID(t *testing.T) supervise.Proposal {
	t.Helper()
	for range 500 {
		ps, err := r.host.Proposals(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Status == supervise.StatusPending {
				return p
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no pending proposal")
	return supervise.Proposal{}
}

// holdPolicy routes new.test with token patterns sent to the operator.
const holdPolicy = `{"version": 1, "bottle": "t", "log": 0, "tokens": [],
 "routes": [{"host": "new.test", "dlp": {"outbound": ["token_patterns"], "inbound": [], "on_match": "supervise"}, "git_fetch": false}]}`

// TestDLPHold: a request that DLP matched on a supervise route waits for
// the operator; approved it goes out once with its body intact, rejected
// or abandoned it never leaves, and the proposal never shows the match.
func TestDLPHold(t *testing.T) {
	r := startSupervised(t, holdPolicy)
	ctx := context.Background()
	const leak = "ghp_" + "0123456789abcdefghijABCDEFGHIJ012345" // a fake token, split so no scanner flags this file
	post := func(c *http.Client) (int, string, error) {
		resp, err := c.Post("https://new.test/v1/upload/"+leak, "text/plain", strings.NewReader("body with "+leak))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	type result struct {
		code int
		body string
		err  error
	}
	send := func(c *http.Client) chan result {
		ch := make(chan result, 1)
		go func() {
			code, body, err := post(c)
			ch <- result{code, body, err}
		}()
		return ch
	}

	res := send(r.agent)
	p := r.pendingID(t)
	raw, _ := json.Marshal(p)
	if p.Kind != supervise.KindDLPHold || p.Hold == nil || strings.Contains(string(raw), leak) || strings.Contains(string(raw), "0123456789abcdefghij") {
		t.Fatalf("the hold proposal = %s", raw)
	}
	if len(r.bodies) != 0 {
		t.Fatal("the held request reached the upstream before a decision")
	}
	if _, err := r.host.Decide(ctx, p.ID, supervise.Verdict{Approve: true, By: "op@test"}); err != nil {
		t.Fatal(err)
	}
	got := <-res
	if got.err != nil || got.code != 200 {
		t.Fatalf("the released request = %d %v", got.code, got.err)
	}
	if b := <-r.bodies; b != "body with "+leak {
		t.Errorf("the upstream got %q, want the body as sent", b)
	}

	// Approval was for that request only: the next one is held again,
	// and a rejection refuses it.
	res = send(r.agent)
	p = r.pendingID(t)
	if _, err := r.host.Decide(ctx, p.ID, supervise.Verdict{Reason: "that is a token", By: "op@test"}); err != nil {
		t.Fatal(err)
	}
	got = <-res
	if got.code != 403 || !strings.Contains(got.body, "rejected") || !strings.Contains(got.body, "that is a token") {
		t.Errorf("the rejected request = %d %q", got.code, got.body)
	}

	// An agent that gives up leaves nothing to release later.
	short := &http.Client{Transport: r.agent.Transport, Timeout: 300 * time.Millisecond}
	if _, _, err := post(short); err == nil {
		t.Fatal("the held request answered before a decision")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ps, _ := r.host.Proposals(ctx)
		last := ps[len(ps)-1]
		if last.Status == supervise.StatusExpired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned hold is %s, want expired", last.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case b := <-r.bodies:
		t.Errorf("a refused or abandoned request reached the upstream: %q", b)
	default:
	}
	audit := r.stop(t)
	if strings.Contains(audit, leak) {
		t.Error("the audit holds the token")
	}
}
