package egress

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// mustCA mints a CA or fails t.
func mustCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// mustPolicy parses a compiled policy document or fails t.
func mustPolicy(t *testing.T, doc string) *policy.Policy {
	t.Helper()
	pol, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// rootsOf is a pool that trusts ca alone.
func rootsOf(ca *CA) *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM())
	return roots
}

// tlsServer serves h over TLS as host, with a leaf of ca, offering
// HTTP/2 when h2; it is closed when t ends.
func tlsServer(t *testing.T, ca *CA, host string, h http.Handler, h2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	leaf, err := ca.Leaf(host)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// frontForCurl serves p on loopback for command-line clients until t
// ends, and returns the proxy URL and a file holding p's CA.
func frontForCurl(t *testing.T, p *Proxy, ca *CA) (proxyURL, caFile string) {
	t.Helper()
	front := httptest.NewServer(p)
	t.Cleanup(func() { front.Close(); p.Close() })
	caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + u.Host, caFile
}
