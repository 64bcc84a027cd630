package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// testCA mints a CA and a leaf for api.allowed.test and other.test.
func testCA(t *testing.T) (*x509.CertPool, *tls.Certificate) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := key(), key()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "escape test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "api.allowed.test"},
		DNSNames:  []string{"api.allowed.test", "other.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, &tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
}

// startTest starts every listener on loopback and returns the server and
// its control URL.
func startTest(t *testing.T, cert *tls.Certificate, dnsAnswer net.IP) (*server, string) {
	t.Helper()
	const lo = "127.0.0.1:0"
	https := ""
	if cert != nil {
		https = lo
	}
	s, err := start(config{
		HTTPS: https, HTTP: lo, TCP: []string{lo, lo}, UDP: []string{lo}, DNS: lo, Control: lo,
		DNSAnswer: dnsAnswer, Cert: cert, ICMP: os.Geteuid() == 0,
		Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.close)
	return s, "http://" + s.controlAddr.String()
}

func fetch(t *testing.T, control string) []hits.Hit {
	t.Helper()
	hs, _, err := hits.Fetch(t.Context(), control)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return hs
}

// only returns the hits of proto, failing unless there are want of them.
func only(t *testing.T, hs []hits.Hit, proto string, want int) []hits.Hit {
	t.Helper()
	var out []hits.Hit
	for _, h := range hs {
		if h.Proto == proto {
			out = append(out, h)
		}
	}
	if len(out) != want {
		t.Fatalf("got %d %s hits, want %d; all hits: %v", len(out), proto, want, hs)
	}
	return out
}

func TestHTTPS(t *testing.T) {
	pool, cert := testCA(t)
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2"}[h2], func(t *testing.T) {
			s, control := startTest(t, cert, nil)
			tr := &http.Transport{
				Proxy:             nil,
				TLSClientConfig:   &tls.Config{RootCAs: pool},
				ForceAttemptHTTP2: h2,
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, s.httpsAddr.String())
				},
			}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://api.allowed.test/v1/x?q=1", strings.NewReader("the body"))
			req.Header.Set("Authorization", "Bearer injected")
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got, want := string(body), "ok POST /v1/x\n"; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}

			hs := fetch(t, control)
			p := port(s.httpsAddr)
			if tc := only(t, hs, hits.ProtoTCP, 1)[0]; tc.Port != p {
				t.Errorf("tcp hit port = %d, want %d", tc.Port, p)
			}
			if tl := only(t, hs, hits.ProtoTLS, 1)[0]; tl.SNI != "api.allowed.test" || tl.Port != p {
				t.Errorf("tls hit = %v, want sni api.allowed.test on port %d", tl, p)
			}
			h := only(t, hs, hits.ProtoHTTPS, 1)[0]
			wantVersion := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
			if h.Port != p || h.SNI != "api.allowed.test" || h.Method != "POST" || h.Host != "api.allowed.test" ||
				h.Path != "/v1/x?q=1" || h.Version != wantVersion || h.Body != "the body" || h.BodyTruncated ||
				!strings.HasPrefix(h.Remote, "127.0.0.1:") {
				t.Errorf("https hit = %+v", h)
			}
			if got := h.Headers.Get("Authorization"); got != "Bearer injected" {
				t.Errorf("Authorization = %q, want %q", got, "Bearer injected")
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	s, control := startTest(t, nil, nil)
	base := "http://" + s.httpAddr.String()
	get := func(path string, body io.Reader) string {
		t.Helper()
		method := http.MethodGet
		if body != nil {
			method = http.MethodPut
		}
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, body)
		resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/stream/x", nil); strings.Count(got, "data: event ") != 5 {
		t.Errorf("/stream = %q, want 5 events", got)
	}
	if got := get("/big", nil); len(got) != bigSize {
		t.Errorf("len(/big) = %d, want %d", len(got), bigSize)
	}
	if got := get("/up", strings.NewReader(strings.Repeat("y", hits.MaxBody+10))); got != "ok PUT /up\n" {
		t.Errorf("PUT /up = %q", got)
	}
	hs := only(t, fetch(t, control), hits.ProtoHTTP, 3)
	if hs[0].Path != "/stream/x" || hs[1].Path != "/big" || hs[0].SNI != "" || hs[0].Port != port(s.httpAddr) {
		t.Errorf("hits = %v", hs)
	}
	if up := hs[2]; len(up.Body) != hits.MaxBody || !up.BodyTruncated {
		t.Errorf("PUT hit body: %d bytes, truncated %v; want %d, true", len(up.Body), up.BodyTruncated, hits.MaxBody)
	}
}

func TestTCPAndUDP(t *testing.T) {
	s, control := startTest(t, nil, nil)
	for _, a := range s.tcpAddrs {
		c, err := net.Dial("tcp", a.String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "hello\n" {
			t.Errorf("tcp %v said %q, want hello", a, b)
		}
	}
	c, err := net.Dial("udp", s.udpAddrs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Errorf("udp echo = %q, %v; want ping", buf[:n], err)
	}

	hs := fetch(t, control)
	tcp := only(t, hs, hits.ProtoTCP, 2)
	if tcp[0].Port != port(s.tcpAddrs[0]) || tcp[1].Port != port(s.tcpAddrs[1]) {
		t.Errorf("tcp hits = %v, want ports of %v", tcp, s.tcpAddrs)
	}
	if u := only(t, hs, hits.ProtoUDP, 1)[0]; u.Port != port(s.udpAddrs[0]) || u.Body != "ping" || u.Remote != c.LocalAddr().String() {
		t.Errorf("udp hit = %+v", u)
	}

	if err := hits.Reset(t.Context(), control); err != nil {
		t.Fatal(err)
	}
	if hs := fetch(t, control); len(hs) != 0 {
		t.Errorf("after reset and fetch, hits = %v, want none", hs)
	}
}

func TestICMP(t *testing.T) {
	_, control := startTest(t, nil, nil)
	_, on, err := hits.Fetch(t.Context(), control)
	if err != nil {
		t.Fatal(err)
	}
	if root := os.Geteuid() == 0; on != root {
		t.Fatalf("icmp_recording = %v, want %v (root)", on, root)
	}
	if !on {
		t.Skip("icmp recording needs root")
	}
	pc, err := net.ListenPacket("ip4:icmp", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	echo := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'h', 'i'}
	sum := ^uint16(0x0800 + 0x1234 + 0x0001 + 0x6869)
	echo[2], echo[3] = byte(sum>>8), byte(sum)
	if _, err := pc.WriteTo(echo, &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, h := range fetch(t, control) {
			if h.Proto == hits.ProtoICMP && h.Remote == "127.0.0.1" && h.Body == "hi" {
				return
			}
		}
	}
	t.Fatalf("no icmp hit; hits = %v", fetch(t, control))
}

func TestDropped(t *testing.T) {
	s, control := startTest(t, nil, nil)
	for range maxHits + 1 {
		s.rec.add(hits.Hit{Proto: hits.ProtoUDP})
	}
	if _, _, err := hits.Fetch(t.Context(), control); err == nil || !strings.Contains(err.Error(), "dropped 1 hits") {
		t.Errorf("Fetch after overflow: %v, want a dropped error", err)
	}
}
