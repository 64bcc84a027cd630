package egress

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// TestPathSmugglingWithCurl sends, with real curl and --path-as-is (so
// curl itself normalises nothing), paths that try to leave the /v1 prefix
// of api.test by a form some server folds: encoded parameters after dots,
// overlong UTF-8, full-width and other look-alike dots and slashes. Each
// must be refused, or reach the upstream only in its canonical form,
// inside the prefix.
func TestPathSmugglingWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required for the egress client tests (apt-get install curl)")
	}
	e := newClientEnv(t)
	for _, tc := range []struct {
		name, path string
		// forward is the path the upstream must see; "" means refused.
		forward string
	}{
		{"encoded-semicolon-after-dots", "/v1/..%3B/admin", ""},
		{"encoded-dots-and-semicolon", "/v1/%2e%2e%3b/admin", ""},
		{"raw-semicolon-after-dots", "/v1/..;/admin", ""},
		{"overlong-utf8-dots", "/v1/%c0%ae%c0%ae/admin", ""},
		{"overlong-utf8-slash", "/v1/..%c0%afadmin", ""},
		{"fullwidth-dots-encoded", "/v1/%ef%bc%8e%ef%bc%8e/admin", ""},
		{"fullwidth-dots-raw", "/v1/\uff0e\uff0e/admin", ""},
		{"two-dot-leader", "/v1/%e2%80%a5/admin", ""},
		{"fullwidth-solidus", "/v1/x%ef%bc%8f..%ef%bc%8f..%ef%bc%8fadmin", ""},
		{"division-slash", "/v1/x\u2215..\u2215admin", ""},
		{"yen-backslash", "/v1/x\u00a5..\u00a5admin", ""},
		{"dots-and-trailing-space", "/v1/..%20/admin", ""},
		{"three-dots", "/v1/.../admin", ""},
		{"double-encoded-dots", "/v1/%252e%252e/admin", ""},
		{"invalid-utf8", "/v1/%ff/admin", ""},
		{"dot-segments-forwarded-resolved", "/v1/a/../b", "/v1/b"},
		{"double-slash-forwarded-collapsed", "//v1//models", "/v1/models"},
		{"unreserved-escape-forwarded-decoded", "/v1/%6dodels", "/v1/models"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.up.Hits())
			out, _ := runErr(t.TempDir(), nil, curl, "-sS", "-i", "--path-as-is", "--proxy", e.proxy, "--cacert", e.caFile,
				"https://api.test"+tc.path)
			hits := e.up.Hits()[before:]
			if tc.forward == "" {
				if !strings.Contains(out, " 403") || len(hits) != 0 {
					t.Fatalf("curl %s = %q, upstream saw %+v; want a 403 and nothing upstream", tc.path, out, hits)
				}
				return
			}
			if len(hits) != 1 || hits[0].Path != tc.forward {
				t.Fatalf("curl %s: upstream saw %+v; want one request for %s (%q)", tc.path, hits, tc.forward, out)
			}
		})
	}
}

// TestOverrideHeadersRefused: on a route that restricts methods or paths,
// a header that makes a framework or gateway use another method or path
// is refused; on a route without matches it passes (the route allows
// every method and path anyway).
func TestOverrideHeadersRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(false)
	for _, h := range []struct{ name, value string }{
		{"X-HTTP-Method-Override", "DELETE"},
		{"X-HTTP-Method", "DELETE"},
		{"X-Method-Override", "DELETE"},
		{"X-Original-URL", "/admin"},
		{"X-Rewrite-URL", "/admin"},
		{"X-Override-URL", "/admin"},
		{"X-Forwarded-Prefix", "/admin"},
		{"X-Original-URI", "/admin"},
		{"X-Forwarded-Uri", "/admin"},
		{"X-Envoy-Original-Path", "/admin"},
	} {
		req, _ := http.NewRequest("GET", "https://api.test/v1/models", nil)
		req.Header.Set(h.name, h.value)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get(BlockHeader) != BlockOverride {
			t.Errorf("GET /v1/models with %s = %d %q, want 403 %s", h.name, resp.StatusCode, resp.Header.Get(BlockHeader), BlockOverride)
		}
	}
	req, _ := http.NewRequest("GET", "https://api.test/v1/models?_method=DELETE", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get(BlockHeader) != BlockOverride {
		t.Errorf("GET /v1/models?_method=DELETE = %d %q, want 403 %s", resp.StatusCode, resp.Header.Get(BlockHeader), BlockOverride)
	}
	if hits := e.up.Hits(); len(hits) != 0 {
		t.Errorf("override requests reached the upstream: %+v", hits)
	}
	req, _ = http.NewRequest("GET", "https://open.test/x", nil)
	req.Header.Set("X-HTTP-Method-Override", "PATCH")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("override header on a route without matches = %d, want 200", resp.StatusCode)
	}
}

// TestNonStandardMethodsRefused: a method outside the standard set is
// refused even on a route without matches (the method token is a channel
// nothing scans), unless a route's match names it.
func TestNonStandardMethodsRefused(t *testing.T) {
	pol := strings.Replace(testPolicy, `{"host": "git.test",`, `{"host": "dav.test", "matches": [{"methods": ["PROPFIND", "GET"]}],
     "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false},
    {"host": "git.test",`, 1)
	e := newEnvWith(t, pol)
	c := e.client(false)
	for _, tc := range []struct {
		method, url string
		want        int
	}{
		{"TRACE", "https://open.test/x", 403},
		{"PROPFIND", "https://open.test/x", 403},
		{"S3CR3T-TOKEN-VALUE", "https://open.test/x", 403},
		{testSecret, "https://open.test/x", 403},
		{"GET", "https://open.test/x", 200},
		{"PATCH", "https://open.test/x", 200},
	} {
		req, _ := http.NewRequest(tc.method, tc.url, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == 403 && resp.Header.Get(BlockHeader) != BlockNonStandardMethod) {
			t.Errorf("%s %s = %d %q, want %d", tc.method, tc.url, resp.StatusCode, resp.Header.Get(BlockHeader), tc.want)
		}
	}
	for _, h := range e.up.Hits() {
		if h.Method != "GET" && h.Method != "PATCH" {
			t.Errorf("a %s request reached the upstream", h.Method)
		}
	}
	// The refused method, which may be a secret, is not recorded.
	e.events.mu.Lock()
	for _, ev := range e.events.ev {
		if strings.Contains(fmt.Sprint(ev), testSecret) {
			t.Errorf("an audit event holds the secret sent as a method: %+v", ev)
		}
	}
	e.events.mu.Unlock()
	for _, rr := range e.proxy.refusals.list() {
		if strings.Contains(fmt.Sprint(rr), testSecret) {
			t.Errorf("a refusal holds the secret sent as a method: %+v", rr)
		}
	}
	// A route that names the method lets it through.
	pe := policyRoute(t, pol, "dav.test")
	if pe == nil {
		t.Fatal("no dav.test route")
	}
	if rf := checkMethod(pe, "PROPFIND"); rf != nil {
		t.Errorf("PROPFIND on a route naming it: %v", rf.reason)
	}
}

func policyRoute(t *testing.T, js, host string) *policy.Route {
	t.Helper()
	pol, err := policy.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := pol.Lookup(host)
	return rt
}

// TestTrailersNotForwarded sends the secret in a chunked request's trailer
// to a host it does not belong to, with DLP on and off for that route:
// the upstream must never see it.
func TestTrailersNotForwarded(t *testing.T) {
	for _, pol := range []string{testPolicy, dlpPolicy} {
		e := newEnvWith(t, pol)
		tc := tunnelTLS(t, e, "open.test", &tls.Config{ServerName: "open.test", RootCAs: e.agentCA, NextProtos: []string{"http/1.1"}})
		fmt.Fprint(tc, "POST /upload HTTP/1.1\r\nHost: open.test\r\nTransfer-Encoding: chunked\r\nTrailer: X-Leak\r\n\r\n"+
			"5\r\nhello\r\n0\r\nX-Leak: "+testSecret+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, h := range e.up.Hits() {
			if strings.Contains(fmt.Sprint(h.Header, h.Trailer, h.Body), testSecret) {
				t.Errorf("the upstream saw the secret from a trailer: %+v", h)
			}
		}
	}
}

// TestHeaderNameScanned sends the secret as a header name (Go and HTTP/2
// change its case) to a host it does not belong to.
func TestHeaderNameScanned(t *testing.T) {
	e := newEnvWith(t, dlpPolicy)
	for _, name := range []string{testSecret, "x-" + strings.ToUpper(testSecret), "X-" + fmt.Sprintf("%x", testSecret)} {
		tc := tunnelTLS(t, e, "open.test", &tls.Config{ServerName: "open.test", RootCAs: e.agentCA, NextProtos: []string{"http/1.1"}})
		fmt.Fprintf(tc, "GET /x HTTP/1.1\r\nHost: open.test\r\n%s: 1\r\n\r\n", name)
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get(BlockHeader) != BlockDLPOutbound {
			t.Errorf("secret as header name %q = %d %q, want 403 %s", name, resp.StatusCode, resp.Header.Get(BlockHeader), BlockDLPOutbound)
		}
	}
	if hits := e.up.Hits(); len(hits) != 0 {
		t.Errorf("a secret in a header name reached the upstream: %+v", hits)
	}
}

// TestFormMethodOverrideRefused: a form POST carrying _method on a route
// that restricts methods is refused; the same form elsewhere passes with
// its body intact.
func TestFormMethodOverrideRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(false)
	for _, tc := range []struct{ ct, body string }{
		{"application/x-www-form-urlencoded", "a=1&_method=DELETE"},
		{"application/x-www-form-urlencoded; charset=utf-8", "_METHOD=delete"},
		{"multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XX--\r\n"},
	} {
		req, _ := http.NewRequest("POST", "https://api.test/v1/models", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ct)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get(BlockHeader) != BlockOverride {
			t.Errorf("POST %s %q = %d %q, want 403 %s", tc.ct, tc.body, resp.StatusCode, resp.Header.Get(BlockHeader), BlockOverride)
		}
	}
	if hits := e.up.Hits(); len(hits) != 0 {
		t.Errorf("form overrides reached the upstream: %+v", hits)
	}
	for _, u := range []string{"https://api.test/v1/models", "https://open.test/x"} {
		body := "a=1&b=2"
		if strings.Contains(u, "open") {
			body = "a=1&_method=DELETE"
		}
		req, _ := http.NewRequest("POST", u, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("POST %s %q = %d, want 200", u, body, resp.StatusCode)
		}
	}
	if hits := e.up.Hits(); len(hits) != 2 || hits[0].Body != "a=1&b=2" || hits[1].Body != "a=1&_method=DELETE" {
		t.Errorf("upstream hits = %+v, want both forms with their bodies", hits)
	}
}

func TestCheckSmuggling(t *testing.T) {
	restricted := policyRoute(t, testPolicy, "api.test")
	open := policyRoute(t, testPolicy, "open.test")
	for _, tc := range []struct {
		name   string
		rt     *policy.Route
		method string
		header http.Header
		query  string
		want   string
	}{
		{"get", restricted, "GET", nil, "", ""},
		{"lowercase-method", open, "get", nil, "", BlockNonStandardMethod},
		{"connect", open, "CONNECT", nil, "", BlockNonStandardMethod},
		{"track", open, "TRACK", nil, "", BlockNonStandardMethod},
		{"underscore-override", restricted, "GET", http.Header{"X_original_url": {"/admin"}}, "", BlockOverride},
		{"override-open-route", open, "GET", http.Header{"X-Original-Url": {"/admin"}}, "", ""},
		{"query-override", restricted, "GET", nil, "_Method=PUT", BlockOverride},
		{"query-override-open-route", open, "GET", nil, "_method=PUT", ""},
		{"websocket", open, "GET", http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"WebSocket"}}, "", ""},
		{"h2c", open, "GET", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}, "", BlockUpgrade},
		{"two-upgrades", open, "GET", http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket", "h2c"}}, "", BlockUpgrade},
		{"upgrade-without-connection", open, "GET", http.Header{"Upgrade": {"h2c"}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Method: tc.method, Header: tc.header}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			q, _ := url.ParseQuery(tc.query)
			got := ""
			if rf := checkSmuggling(tc.rt, r, q); rf != nil {
				got = rf.code
			}
			if got != tc.want {
				t.Errorf("checkSmuggling(%s) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}
