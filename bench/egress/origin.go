package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// benchHost is the name every request is for. It never resolves: the
// client dials the origin's address for it, and the proxies pin it.
const benchHost = "api.bench.test"

// Sizes of the origin's bodies and of the uploaded one.
const (
	smallSize  = 1 << 10
	bigSize    = 1 << 20
	uploadSize = 256 << 10
)

// origin is the HTTPS server every scenario ends at. It checks that each
// request carries the expected credential, so that a proxy that does not
// inject it (or injects the wrong one) shows up in the report.
type origin struct {
	addr    string
	port    int
	caFile  string
	roots   *x509.CertPool
	want    string
	small   []byte
	big     []byte
	srv     *http.Server
	badAuth atomic.Int64
}

// startOrigin mints a CA and a certificate for benchHost, writes the CA to
// dir and serves HTTP/1.1 and h2 on a loopback port.
func startOrigin(dir, token string) (*origin, error) {
	caCert, caKey, err := newCA()
	if err != nil {
		return nil, err
	}
	leaf, err := newLeaf(caCert, caKey, benchHost)
	if err != nil {
		return nil, err
	}
	o := &origin{
		caFile: filepath.Join(dir, "origin-ca.pem"),
		roots:  x509.NewCertPool(),
		want:   "Bearer " + token,
		small:  lorem(smallSize),
		big:    make([]byte, bigSize),
	}
	o.roots.AddCert(caCert)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	if err := os.WriteFile(o.caFile, caPEM, 0o600); err != nil {
		return nil, fmt.Errorf("writing the origin CA: %w", err)
	}
	if _, err := rand.Read(o.big); err != nil {
		return nil, fmt.Errorf("filling the 1 MiB body: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("origin listener: %w", err)
	}
	o.addr = ln.Addr().String()
	o.port = ln.Addr().(*net.TCPAddr).Port
	mux := http.NewServeMux()
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(o.small)))
		_, _ = w.Write(o.small)
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(o.big)))
		_, _ = w.Write(o.big)
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"bytes":%d}`+"\n", n)
	})
	o.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != o.want {
				o.badAuth.Add(1)
			}
			mux.ServeHTTP(w, r)
		}),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{leaf},
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = o.srv.ServeTLS(ln, "", "") }()
	return o, nil
}

// authMismatches returns how many requests lacked the expected
// Authorization since the last call, and resets the count.
func (o *origin) authMismatches() int64 { return o.badAuth.Swap(0) }

func (o *origin) close() error { return o.srv.Close() }

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("origin CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bench-egress origin CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("origin CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("origin CA certificate: %w", err)
	}
	return cert, key, nil
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("origin key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("origin certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}, nil
}

// loadPEMPool reads a PEM CA file into a new pool.
func loadPEMPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no PEM certificate in " + file)
	}
	return pool, nil
}

// loremWords have none of the phrases the inbound injection scanner looks
// for, like most API responses: the scanner's cheap pass decides.
var loremWords = strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat")

// lorem returns exactly n bytes of JSON text: an object with one "items"
// array of short strings, the same every run.
func lorem(n int) []byte {
	const head, tail = `{"items":[`, `],"pad":"`
	var b strings.Builder
	b.Grow(n)
	b.WriteString(head)
	x := uint32(2463534242)
	for {
		words := make([]string, 6)
		for w := range words {
			// xorshift32: a fixed, dependency-free word sequence.
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			words[w] = loremWords[int(x)%len(loremWords)]
		}
		item := `"` + strings.Join(words, " ") + `"`
		if b.Len()+1+len(item)+len(tail)+2 > n {
			break
		}
		if b.Len() > len(head) {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteString(tail)
	for b.Len() < n-2 {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	return []byte(b.String())
}
