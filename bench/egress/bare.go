package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bareFlag, as the first argument, turns the benchmark binary into the bare
// Go MITM proxy: the machine's reference point, with no policy and no DLP.
// It is not among the benchmark's flags; see bareLauncher.
const bareFlag = "-bare-proxy"

// bareLauncher re-executes this binary as the bare proxy, so that it runs
// as a process of its own, measured like the others.
func bareLauncher(self, token string, o *origin) launcher {
	return func(ctx context.Context, dir string, port int) (*exec.Cmd, string) {
		caFile := filepath.Join(dir, "ca.crt")
		cmd := exec.CommandContext(ctx, self, bareFlag, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), //nolint:gosec // G204: the benchmark re-executes itself
			"-ca-file", caFile,
			"-upstream-ca", o.caFile,
			"-resolve", benchHost+"="+o.addr)
		cmd.Env = append(os.Environ(), "BENCH_TOKEN="+token)
		return cmd, caFile
	}
}

// bareMain runs the bare proxy with args, those after bareFlag:
// LISTEN-ADDR -ca-file FILE -upstream-ca FILE -resolve HOST=ADDR; the
// Authorization it injects is "Bearer $BENCH_TOKEN".
func bareMain(args []string) error {
	if len(args) == 0 {
		return errors.New(bareFlag + " needs a listen address")
	}
	fs := flag.NewFlagSet(bareFlag, flag.ContinueOnError)
	caFile := fs.String("ca-file", "", "where to write the proxy's CA certificate")
	upstreamCA := fs.String("upstream-ca", "", "CA to verify the origin with")
	resolve := fs.String("resolve", "", "HOST=ADDR: dial ADDR for HOST:443")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	host, originAddr, ok := strings.Cut(*resolve, "=")
	if !ok {
		return errors.New("-resolve must be HOST=ADDR")
	}
	roots, err := loadPEMPool(*upstreamCA)
	if err != nil {
		return err
	}
	ca, caKey, err := newCA()
	if err != nil {
		return err
	}

	d := &net.Dialer{Timeout: 5 * time.Second}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "https"
			pr.Out.URL.Host = pr.In.Host
			pr.Out.Header.Set("Authorization", "Bearer "+os.Getenv("BENCH_TOKEN"))
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == host+":443" {
					addr = originAddr
				}
				return d.DialContext(ctx, network, addr)
			},
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	// Decrypted tunnels are served by one HTTP server, fed by the CONNECT
	// handler through a listener of its own.
	tunnels := &chanListener{conns: make(chan net.Conn), done: make(chan struct{})}
	inner := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = inner.Serve(tunnels) }()

	certs := &leafCache{ca: ca, key: caKey, leaves: map[string]*tls.Certificate{}}
	tlsConf := &tls.Config{
		GetCertificate: certs.get,
		NextProtos:     []string{"http/1.1"},
		MinVersion:     tls.VersionTLS12,
	}
	outer := &http.Server{
		Addr:              args[0],
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodConnect {
				http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
				return
			}
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				log.Printf("hijack: %v", err)
				return
			}
			// The client waits for this answer before its ClientHello,
			// so nothing of the tunnel is left in the server's buffer.
			if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
				_ = conn.Close()
				return
			}
			tunnels.conns <- tls.Server(conn, tlsConf)
		}),
	}
	ln, err := net.Listen("tcp", outer.Addr)
	if err != nil {
		return err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	if err := os.WriteFile(*caFile+".tmp", caPEM, 0o600); err != nil {
		return err
	}
	if err := os.Rename(*caFile+".tmp", *caFile); err != nil {
		return err
	}
	return outer.Serve(ln)
}

// leafCache mints one certificate per host, signed by the proxy's CA, and
// keeps it.
type leafCache struct {
	ca     *x509.Certificate
	key    *ecdsa.PrivateKey
	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

func (c *leafCache) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	host := hello.ServerName
	if host == "" {
		return nil, errors.New("no SNI")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if leaf, ok := c.leaves[host]; ok {
		return leaf, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("leaf for %s: %w", host, err)
	}
	leaf := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	c.leaves[host] = leaf
	return leaf, nil
}

// chanListener is a net.Listener whose connections are sent to it.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
