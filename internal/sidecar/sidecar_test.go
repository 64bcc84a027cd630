package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/sidecar/contract"
)

const policyJSON = `{"version": 1, "bottle": "t", "log": 0,
 "routes": [{"host": "%s", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"},
   "dlp": {"outbound": ["known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false}],
 "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "API_TOKEN", "hosts": ["%s"]}]}`

// TestSidecarServesPolicyFile runs the sidecar role end to end: policy from
// a file, the secret from the slot's environment variable, a real TLS
// upstream, the CA written to the CA folder, and a reload through the admin
// API after the policy file changes.
func TestSidecarServesPolicyFile(t *testing.T) {
	upCA, err := egress.NewCA("up")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var auths []string
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	var certs []tls.Certificate
	for _, h := range []string{"api.test", "new.test"} {
		c, _ := upCA.Leaf(h)
		certs = append(certs, *c)
	}
	up.TLS = &tls.Config{Certificates: certs}
	up.StartTLS()
	defer up.Close()

	dir := t.TempDir()
	polFile := filepath.Join(dir, "policy.json")
	write := func(host string) {
		if err := os.WriteFile(polFile, []byte(fmt.Sprintf(policyJSON, host, host)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("api.test")
	upCAFile := filepath.Join(dir, "up.pem")
	if err := os.WriteFile(upCAFile, upCA.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EGRESS_TOKEN_0": "the-secret"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ready := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	admin := freeAddr(t)
	go func() {
		done <- Run(ctx, Config{
			Listen:     "127.0.0.1:0",
			CADir:      filepath.Join(dir, "ca"),
			UpstreamCA: upCAFile,
			Resolve:    map[string]string{"api.test": up.Listener.Addr().String(), "new.test": up.Listener.Addr().String()},
			Admin:      admin,
			Load:       fileLoader(polFile, lookup),
			Ready:      func(a net.Addr, _ *egress.CA, _ *policy.Policy) { ready <- a },
		})
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca", egress.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	proxyURL, _ := url.Parse("http://" + addr.String())
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	get := func(u string) int {
		resp, err := c.Get(u)
		if err != nil && strings.Contains(err.Error(), "Forbidden") {
			return 403 // a refused CONNECT
		}
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("https://api.test/x"); s != 200 {
		t.Fatalf("GET api.test = %d", s)
	}
	if s := get("https://new.test/x"); s != 403 {
		t.Fatalf("GET new.test before reload = %d, want 403", s)
	}
	write("new.test")
	resp, err := http.Post("http://"+admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /reload = %d", resp.StatusCode)
	}
	if s := get("https://new.test/x"); s != 200 {
		t.Errorf("GET new.test after reload = %d", s)
	}
	if s := get("https://api.test/x"); s != 403 {
		t.Errorf("GET api.test after reload = %d, want 403", s)
	}
	mu.Lock()
	for _, a := range auths {
		if a != "Bearer the-secret" {
			t.Errorf("upstream saw Authorization %q", a)
		}
	}
	mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v", err)
	}
}

func TestSidecarRefusesMissingSecret(t *testing.T) {
	dir := t.TempDir()
	polFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(polFile, []byte(fmt.Sprintf(policyJSON, "api.test", "api.test")), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Config{Listen: "127.0.0.1:0", CADir: filepath.Join(dir, "ca"),
		Load: fileLoader(polFile, func(string) (string, bool) { return "", false })})
	if err == nil || !strings.Contains(err.Error(), "EGRESS_TOKEN_0") || !strings.Contains(err.Error(), "API_TOKEN") {
		t.Errorf("Run without the secret = %v, want an error naming the slot and variable", err)
	}
	if err := Run(context.Background(), Config{Listen: "127.0.0.1:0", CADir: filepath.Join(dir, "ca"), Admin: "0.0.0.0:9199",
		Load: fileLoader(polFile, func(string) (string, bool) { return "s", true })}); !errors.Is(err, ErrAdminAddr) {
		t.Errorf("Run with a non-loopback admin address = %v, want ErrAdminAddr", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "egress.sock")
	if err := os.WriteFile(path, nil, 0o600); err != nil { // a stale file
		t.Fatal(err)
	}
	ln, err := listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	st, err := os.Stat(path)
	if err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", st.Mode(), err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hi"))
			_ = c.Close()
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	if string(b) != "hi" {
		t.Fatalf("read %q", b)
	}
}

// fileLoader loads a compiled policy file and takes each slot's secret
// from lookup, as `egress serve` does from the host environment.
func fileLoader(path string, lookup func(string) (string, bool)) Loader {
	return func() (*policy.Policy, map[string]secret.Value, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		pol, err := policy.Parse(data)
		if err != nil {
			return nil, nil, err
		}
		secrets := map[string]secret.Value{}
		for _, sl := range pol.Slots() {
			if v, ok := lookup(sl.Name); ok && v != "" {
				secrets[sl.Name] = secret.New(v)
			}
		}
		return pol, secrets, contract.CheckSlots(pol, secrets)
	}
}
