package egress

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// TestUpstreamTLSIsVerified: the proxy reaches an upstream only over TLS
// that chains to its roots and names the allowed host, on every path
// (HTTP/1.1 tunnels pinned to one upstream connection, and HTTP/2).
func TestUpstreamTLSIsVerified(t *testing.T) {
	trusted, err := NewCA("trusted upstream")
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := NewCA("rogue")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(trusted.CertPEM())
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ca   *CA
		cert string // the name the upstream's certificate is for
		ok   bool
	}{
		{"trusted CA, right name", trusted, "open.test", true},
		{"untrusted CA", rogue, "open.test", false},
		{"trusted CA, another name", trusted, "other.test", false},
	} {
		for _, h2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/h2=%v", tc.name, h2), func(t *testing.T) {
				up := newUpstream(t, tc.ca, tc.cert)
				ca, err := NewCA("t")
				if err != nil {
					t.Fatal(err)
				}
				p, err := New(Config{Policy: pol, CA: ca, Secrets: map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)}, Resolve: map[string]string{"open.test": up.srv.Listener.Addr().String()}, UpstreamRoots: roots})
				if err != nil {
					t.Fatal(err)
				}
				front := httptest.NewServer(p)
				t.Cleanup(func() { front.Close(); p.Close() })
				agentCA := x509.NewCertPool()
				agentCA.AppendCertsFromPEM(ca.CertPEM())
				u, _ := url.Parse(front.URL)
				e := &env{proxyURL: u, agentCA: agentCA}
				resp, err := e.client(h2).Get("https://open.test/tls-check")
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if got := resp.StatusCode == http.StatusOK; got != tc.ok {
					t.Fatalf("status %d, want ok=%v", resp.StatusCode, tc.ok)
				}
				if hits := len(up.Hits()); (hits > 0) != tc.ok {
					t.Fatalf("upstream saw %d requests, want ok=%v", hits, tc.ok)
				}
			})
		}
	}
}
