package egress

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	c := e.client(false)
	resp, err := c.Get("https://api.test/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, u := range []string{"http://" + IntrospectionHost + "/routes", "http://" + IntrospectionHost + "/refusals"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(body), testSecret) || strings.Contains(string(body), "EGRESS_TOKEN") {
			t.Errorf("GET %s = %d %s", u, resp.StatusCode, body)
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("GET %s: not JSON: %v", u, err)
		}
		switch {
		case strings.HasSuffix(u, "/routes") && !strings.Contains(string(body), `"host": "api.test"`):
			t.Errorf("routes lack api.test: %s", body)
		case strings.HasSuffix(u, "/refusals") && !strings.Contains(string(body), `"rule": "path-not-allowed"`):
			t.Errorf("refusals lack the refused request: %s", body)
		}
	}
	// Origin-form to the proxy port works too.
	resp, err = http.Get(e.proxyURL.String() + "/routes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET proxy/routes = %d", resp.StatusCode)
	}
}

// TestReloadKeepsConnections reloads to a policy without api.test while a
// keep-alive tunnel is open: the next request on the same connection is
// refused, and the connection is not dropped.
func TestReloadKeepsConnections(t *testing.T) {
	e := newEnv(t)
	c := e.client(false)
	var conns []string
	get := func(path string) int {
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn.LocalAddr().String()) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "https://api.test"+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("/v1/a"); s != 200 {
		t.Fatalf("before reload: %d", s)
	}
	narrowed := strings.Replace(testPolicy, `"prefix", "value": "/v1"`, `"prefix", "value": "/v2"`, 1)
	pol, err := policy.Parse([]byte(narrowed))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.proxy.Reload(pol, map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)}); err != nil {
		t.Fatal(err)
	}
	if s := get("/v1/a"); s != 403 {
		t.Errorf("after reload, /v1/a = %d, want 403", s)
	}
	if s := get("/v2/a"); s != 200 {
		t.Errorf("after reload, /v2/a = %d, want 200", s)
	}
	if len(conns) != 3 || conns[0] != conns[1] || conns[1] != conns[2] {
		t.Errorf("connections used = %v, want one kept across the reload", conns)
	}
	if err := e.proxy.Reload(pol, nil); err == nil {
		t.Error("Reload without the secret its policy needs succeeded")
	}
}
