package egress

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
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
