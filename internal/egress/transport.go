package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"
)

// newTransport returns the upstream transport. It dials the address the
// proxy itself resolves for the allowed name (or the pinned one), never an
// address the agent chose, and verifies upstream TLS for that name.
func newTransport(resolve map[string]string, roots *x509.CertPool) *http.Transport {
	d := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	pinned := make(map[string]string, len(resolve))
	for h, addr := range resolve {
		pinned[normHost(h)] = addr
	}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if to, ok := pinned[normHost(host)]; ok {
				return d.DialContext(ctx, network, to)
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Compression stays as the agent asked: the proxy neither adds
		// Accept-Encoding nor decodes responses on its own.
		DisableCompression: true,
	}
}
