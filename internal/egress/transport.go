package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// dialResolved resolves the host itself and dials the first address that
// is not the sidecar's own machine: an allowed name whose DNS points at
// loopback, link-local or unspecified addresses (rebinding) would reach
// services the agent must not.
func dialResolved(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() {
			lastErr = fmt.Errorf("%s resolves to %s, which the proxy never dials (pin it with --resolve if that is intended)", host, ip)
			continue
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%s has no address", host)
	}
	return nil, lastErr
}

// transport sends each request upstream in the protocol the agent used:
// HTTP/2 when the agent spoke HTTP/2 (gRPC and trailers need it end to
// end), HTTP/1.1 otherwise, which costs less per request.
type transport struct {
	h1, h2 *http.Transport
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	roots  func() *x509.CertPool
	pool   connPool
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.ProtoMajor == 2 {
		return t.h2.RoundTrip(r)
	}
	if f, ok := r.Context().Value(routeKey{}).(forwarded); ok && f.pin != nil && f.target.tls && pinnable(r) {
		return t.roundTripPinned(f.pin, f.target, r)
	}
	return t.h1.RoundTrip(r)
}

// CloseIdleConnections closes the idle upstream connections.
func (t *transport) CloseIdleConnections() {
	t.h1.CloseIdleConnections()
	t.h2.CloseIdleConnections()
	t.pool.closeAll()
}

func newTransport(resolve map[string]string, roots func() *x509.CertPool) *transport {
	h2 := newHTTPTransport(resolve, roots)
	h1 := newHTTPTransport(resolve, roots)
	h1.ForceAttemptHTTP2 = false
	h1.TLSClientConfig.NextProtos = []string{"http/1.1"}
	h1.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return &transport{h1: h1, h2: h2, dial: h1.DialContext, roots: roots}
}

// newHTTPTransport returns the upstream transport. It dials the address the
// proxy itself resolves for the allowed name (or the pinned one), never an
// address the agent chose, and verifies upstream TLS for that name.
func newHTTPTransport(resolve map[string]string, roots func() *x509.CertPool) *http.Transport {
	d := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil,
		DialContext: PinnedDialer(resolve, d, func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialResolved(ctx, d, network, addr)
		}),
		TLSClientConfig:       upstreamTLS("", roots),
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

// PinnedDialer dials the pinned address of a host that resolve pins
// (HOST=ADDR:PORT, for every port of HOST), and hands every other address
// to dial. The sidecar's other upstream clients (the git gate's SSH) use
// it too, so a pin means the same everywhere.
func PinnedDialer(resolve map[string]string, d *net.Dialer, dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	pinned := make(map[string]string, len(resolve))
	for h, addr := range resolve {
		pinned[normHost(h)] = addr
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if to, ok := pinned[normHost(host)]; ok {
			return d.DialContext(ctx, network, to)
		}
		return dial(ctx, network, addr)
	}
}

// upstreamTLS is the TLS configuration of upstream connections. The roots
// are loaded on first use, not at start: reading the system's store takes
// longer than everything else the sidecar does before it serves. Go's own
// verification is replaced by the same verification against those roots
// (the pattern of crypto/tls's VerifyConnection example): the chain must
// lead to a root, and the leaf must be valid for the name sent in SNI,
// which is the allowed host the proxy dials.
func upstreamTLS(serverName string, roots func() *x509.CertPool) *tls.Config {
	return &tls.Config{
		ServerName: serverName,
		MinVersion: tls.VersionTLS12,
		// Verified in VerifyConnection, on every handshake and resumption.
		InsecureSkipVerify: true, //nolint:gosec // G402: see VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("upstream sent no certificate")
			}
			if cs.ServerName == "" {
				return errors.New("upstream connection without a server name")
			}
			opts := x509.VerifyOptions{
				DNSName:       cs.ServerName,
				Roots:         roots(),
				Intermediates: x509.NewCertPool(),
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		},
	}
}
