package egress

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// FuzzDecide throws arbitrary requests at the decision: it must never
// panic, and anything it allows must really be allowed by the policy.
func FuzzDecide(f *testing.F) {
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("api.test", "443", "api.test", "GET", "/v1/models?x=1", "Accept", "*/*", "api.test")
	f.Add("api.test", "443", "api.test:443", "POST", "/v1/../admin", "Content-Type", "application/dns-message", "")
	f.Add("git.test", "443", "git.test", "GET", "/r.git/info/refs?service=git-receive-pack", "", "", "git.test")
	f.Add("open.test", "80", "OPEN.TEST.", "DELETE", "/%2e%2e/x", "X", "y", "")
	f.Fuzz(func(t *testing.T, host, port, hostHeader, method, rawURL, hname, hval, sni string) {
		u, err := url.ParseRequestURI(rawURL)
		if err != nil {
			return
		}
		r := &http.Request{Method: method, URL: u, Host: hostHeader, Header: http.Header{}}
		if hname != "" {
			r.Header.Add(hname, hval)
		}
		tgt := target{host: normHost(host), port: port, tls: sni != ""}
		if tgt.tls {
			r.TLS = &tls.ConnectionState{ServerName: sni}
		}
		rt, path, rf := decide(pol, tgt, r)
		if rf != nil {
			if rt != nil || rf.code == "" {
				t.Fatalf("refusal %+v came with route %v", rf, rt)
			}
			return
		}
		want, ok := pol.Lookup(tgt.host)
		if !ok || want != rt {
			t.Fatalf("allowed %q via route %v, but Lookup gives %v, %v", host, rt, want, ok)
		}
		if clean, ok := policy.CleanPath(path); !ok || clean != path {
			t.Fatalf("allowed a path that is not clean: %q", path)
		}
		if !rt.Allows(method, path, r.Header) {
			t.Fatalf("allowed %s %s that the route does not allow", method, path)
		}
		if strings.Contains(path, "git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
			t.Fatalf("allowed a git push: %s", rawURL)
		}
		if h, _ := splitHostPort(hostHeader); normHost(h) != rt.Host {
			t.Fatalf("allowed Host %q for route %s", hostHeader, rt.Host)
		}
	})
}
