package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// apiKeyPolicy injects the secret as a bare X-Api-Key on api.test, as an
// Anthropic API key route does, and leaves open.test without auth.
const apiKeyPolicy = `{
  "version": 1, "bottle": "t", "log": 2,
  "routes": [
    {"host": "api.test", "auth": {"header": "X-Api-Key", "slot": "EGRESS_TOKEN_0"},
     "dlp": {"outbound": ["known_secrets"], "inbound": ["naive_injection_detection"], "on_match": "block"}, "git_fetch": false},
    {"host": "open.test", "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false}
  ],
  "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "ANTHROPIC_API_KEY", "hosts": ["api.test"]}]
}`

// agentPlaceholder is what the agent holds in place of the key.
const agentPlaceholder = "bot-bottle-placeholder-injected-by-egress"

// syncBuffer is a bytes.Buffer safe for the proxy's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newLoggedEnv is newEnvWith whose proxy logs everything, at debug level,
// to the returned buffer.
func newLoggedEnv(t *testing.T, policyJSON string) (*env, *syncBuffer) {
	t.Helper()
	upCA := mustCA(t, "upstream")
	up := newUpstream(t, upCA, testHosts...)
	ca := mustCA(t, "t")
	resolve := map[string]string{}
	for _, h := range testHosts {
		resolve[h] = up.srv.Listener.Addr().String()
	}
	logs := &syncBuffer{}
	audit := &memAudit{}
	p, err := New(Config{
		Policy:        mustPolicy(t, policyJSON),
		CA:            ca,
		Secrets:       map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)},
		Resolve:       resolve,
		UpstreamRoots: rootsOf(upCA),
		Audit:         audit,
		Log:           slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close(); p.Close() })
	agentCA := x509.NewCertPool()
	agentCA.AppendCertsFromPEM(ca.CertPEM())
	u, _ := url.Parse(front.URL)
	return &env{proxyURL: u, agentCA: agentCA, up: up, events: audit, proxy: p}, logs
}

// credentialHeaders returns, lowercased with "_" read as "-", every
// header of h that names a credential, with its values.
func credentialHeaders(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, vs := range h {
		n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
		if n == "x-api-key" || n == "authorization" || n == "proxy-authorization" {
			out[n] = append(out[n], vs...)
		}
	}
	return out
}

// noLeak fails t when the secret shows in the proxy's logs, audit events
// or recent refusals, or an agent's value shows anywhere upstream.
func noLeak(t *testing.T, e *env, logs *syncBuffer) {
	t.Helper()
	if strings.Contains(logs.String(), testSecret) {
		t.Errorf("the proxy's log holds the secret:\n%s", logs)
	}
	e.events.mu.Lock()
	evs, _ := json.Marshal(e.events.ev)
	e.events.mu.Unlock()
	if bytes.Contains(evs, []byte(testSecret)) {
		t.Errorf("an audit event holds the secret: %s", evs)
	}
	if refs, _ := json.Marshal(e.proxy.Refusals()); bytes.Contains(refs, []byte(testSecret)) {
		t.Errorf("a recent refusal holds the secret: %s", refs)
	}
	for _, h := range e.up.Hits() {
		all := fmt.Sprint(h.Header, h.Trailer, h.Body)
		if strings.Contains(all, "attacker") || strings.Contains(all, agentPlaceholder) {
			t.Errorf("the upstream saw an agent credential: %+v", h)
		}
	}
}

// TestAPIKeyHeaderInjected is the attacker's test of a route that injects
// its secret in X-Api-Key: whatever the agent sends in that header (two
// of it in different case, the placeholder, an underscore spelling a
// CGI server would merge with it) and in Authorization, the upstream sees
// exactly one X-Api-Key, the real one, over HTTP/1.1 and HTTP/2, and the
// secret shows in no log, audit event or refusal.
func TestAPIKeyHeaderInjected(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			e, logs := newLoggedEnv(t, apiKeyPolicy)
			req, _ := http.NewRequest("POST", "https://api.test/v1/messages", strings.NewReader(`{"model":"m"}`))
			req.Header["x-api-key"] = []string{agentPlaceholder}
			req.Header["X-API-KEY"] = []string{"attacker-key-one", "attacker-key-two"}
			req.Header["X_Api_Key"] = []string{"attacker-underscore"}
			req.Header.Set("Authorization", "Bearer attacker-oauth")
			req.Header.Set("Proxy-Authorization", "Basic attacker-proxy")
			resp, err := e.client(h2).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("POST = %d %q", resp.StatusCode, body)
			}
			hits := e.up.Hits()
			if len(hits) != 1 {
				t.Fatalf("upstream hits = %+v, want one", hits)
			}
			want := map[string][]string{"x-api-key": {testSecret}}
			if d := cmp.Diff(want, credentialHeaders(hits[0].Header)); d != "" {
				t.Errorf("credential headers upstream (-want +got):\n%s", d)
			}
			noLeak(t, e, logs)
		})
	}
}

// TestAPIKeyRouteWithoutAuthUnchanged: on a route without auth the agent's
// X-Api-Key passes as sent, and its Authorization is still dropped.
func TestAPIKeyRouteWithoutAuthUnchanged(t *testing.T) {
	e, _ := newLoggedEnv(t, apiKeyPolicy)
	req, _ := http.NewRequest("GET", "https://open.test/x", nil)
	req.Header.Set("X-Api-Key", "agents-own-key")
	req.Header.Set("Authorization", "Bearer agents-own")
	resp, err := e.client(false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hits := e.up.Hits()
	if len(hits) != 1 {
		t.Fatalf("upstream hits = %+v, want one", hits)
	}
	want := map[string][]string{"x-api-key": {"agents-own-key"}}
	if d := cmp.Diff(want, credentialHeaders(hits[0].Header)); d != "" {
		t.Errorf("credential headers upstream (-want +got):\n%s", d)
	}
}

// TestAPIKeyRawRequests sends hand-written HTTP/1.1 requests: the key in
// a trailer, in a header the Connection header names, and a WebSocket
// upgrade, which must carry the injected key too.
func TestAPIKeyRawRequests(t *testing.T) {
	tests := []struct {
		name, request string
		status        int
	}{
		{"trailer", "POST /v1/messages HTTP/1.1\r\nHost: api.test\r\nx-api-key: " + agentPlaceholder + "\r\nTransfer-Encoding: chunked\r\nTrailer: X-Api-Key, Authorization\r\n\r\n" +
			"5\r\nhello\r\n0\r\nX-Api-Key: attacker-trailer\r\nAuthorization: Bearer attacker-trailer\r\n\r\n", 200},
		{"connection-named", "GET /v1/models HTTP/1.1\r\nHost: api.test\r\nConnection: keep-alive, X-Api-Key\r\nX-Api-Key: attacker-hop\r\nx-API-key: attacker-hop-2\r\n\r\n", 200},
		{"websocket", "GET /v1/ws HTTP/1.1\r\nHost: api.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
			"X-Api-Key: attacker-ws\r\nx-api-key: " + agentPlaceholder + "\r\nAuthorization: Bearer attacker-ws\r\n\r\n", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, logs := newLoggedEnv(t, apiKeyPolicy)
			tc := tunnelTLS(t, e, "api.test", &tls.Config{ServerName: "api.test", RootCAs: e.agentCA, NextProtos: []string{"http/1.1"}})
			fmt.Fprint(tc, tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			hits := e.up.Hits()
			if len(hits) != 1 {
				t.Fatalf("upstream hits = %+v, want one", hits)
			}
			want := map[string][]string{"x-api-key": {testSecret}}
			if d := cmp.Diff(want, credentialHeaders(hits[0].Header)); d != "" {
				t.Errorf("credential headers upstream (-want +got):\n%s", d)
			}
			if len(hits[0].Trailer) != 0 {
				t.Errorf("the upstream saw trailers %v", hits[0].Trailer)
			}
			noLeak(t, e, logs)
		})
	}
}

// TestAPIKeyIntrospection: /routes names the header the credential goes
// in, never its value or slot.
func TestAPIKeyIntrospection(t *testing.T) {
	e, _ := newLoggedEnv(t, apiKeyPolicy)
	resp, err := e.client(false).Get("http://" + IntrospectionHost + "/routes")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), testSecret) || strings.Contains(string(body), "EGRESS_TOKEN") {
		t.Errorf("/routes shows the secret or its slot: %s", body)
	}
	if !strings.Contains(string(body), `"auth": "credential injected by the sidecar in the X-Api-Key header"`) {
		t.Errorf("/routes does not name the auth header: %s", body)
	}
}

// TestIsCredentialHeader: the names a route's auth header, Authorization
// and Proxy-Authorization go by at a server that merges "_" with "-".
func TestIsCredentialHeader(t *testing.T) {
	tests := []struct {
		name, header string
		want         bool
	}{
		{"Authorization", "", true},
		{"Proxy_authorization", "", true},
		{"X-Api-Key", "", false},
		{"X-Api-Key", "X-Api-Key", true},
		{"X_api_key", "X-Api-Key", true},
		{"X-Api-Key", "X_api_key", true},
		{"Authorization", "X-Api-Key", true},
		{"X-Api-Keys", "X-Api-Key", false},
		{"Api-Key", "X-Api-Key", false},
	}
	for _, tt := range tests {
		if got := isCredentialHeader(tt.name, tt.header); got != tt.want {
			t.Errorf("isCredentialHeader(%q, %q) = %v, want %v", tt.name, tt.header, got, tt.want)
		}
	}
}
