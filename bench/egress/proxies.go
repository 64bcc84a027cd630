package main

import (
	"context"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed addon.py
var mitmAddon []byte

// Bottle names in the benchmark's BOT_BOTTLE_HOME.
const (
	bottleDLPOn  = "bench"
	bottleDLPOff = "bench-nodlp"
)

// bottleManifest is a bottle with one route to benchHost that injects
// $BENCH_TOKEN; dlp is the route's extra YAML (empty: the defaults).
func bottleManifest(dlp string) string {
	return `---
egress:
  routes:
    - host: ` + benchHost + `
      auth: {scheme: Bearer, token_ref: BENCH_TOKEN}
` + dlp + `---
Benchmark bottle written by bench/egress.
`
}

// writeHome creates a BOT_BOTTLE_HOME with the two benchmark bottles.
func writeHome(dir string) (string, error) {
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, "bottles"), 0o700); err != nil {
		return "", fmt.Errorf("creating BOT_BOTTLE_HOME: %w", err)
	}
	files := map[string]string{
		bottleDLPOn:  bottleManifest(""),
		bottleDLPOff: bottleManifest("      dlp: {outbound_detectors: false, inbound_detectors: false}\n"),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(home, "bottles", name+".md"), []byte(body), 0o600); err != nil {
			return "", fmt.Errorf("writing bottle %s: %w", name, err)
		}
	}
	return home, nil
}

// launcher builds the command of one proxy listening on port, with its
// state in dir; caFile is the CA the client must trust, which the proxy
// writes when it starts.
type launcher func(ctx context.Context, dir string, port int) (cmd *exec.Cmd, caFile string)

func botBottle(bin, home, bottle, token string, o *origin) launcher {
	return func(ctx context.Context, dir string, port int) (*exec.Cmd, string) {
		caDir := filepath.Join(dir, "ca")
		cmd := exec.CommandContext(ctx, bin, "egress", "serve", //nolint:gosec // G204: the benchmark runs the binary it is told to measure
			"--bottle", bottle,
			"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			"--ca-dir", caDir,
			"--upstream-ca", o.caFile,
			"--resolve", benchHost+"="+o.addr)
		cmd.Env = append(os.Environ(), "BOT_BOTTLE_HOME="+home, "BENCH_TOKEN="+token)
		return cmd, filepath.Join(caDir, "ca.crt")
	}
}

func mitmdump(bin, addon, token string, o *origin) launcher {
	return func(ctx context.Context, dir string, port int) (*exec.Cmd, string) {
		conf := filepath.Join(dir, "mitmproxy")
		cmd := exec.CommandContext(ctx, bin, "-q", //nolint:gosec // G204: the benchmark runs the binary it is told to measure
			"--listen-host", "127.0.0.1",
			"--listen-port", strconv.Itoa(port),
			"-s", addon,
			"--set", "confdir="+conf,
			"--set", "ssl_verify_upstream_trusted_ca="+o.caFile)
		cmd.Env = append(os.Environ(), "BENCH_TOKEN="+token, "BENCH_ORIGIN="+o.addr)
		return cmd, filepath.Join(conf, "mitmproxy-ca-cert.pem")
	}
}

// proc is a running proxy.
type proc struct {
	cmd   *exec.Cmd
	url   *url.URL
	roots *x509.CertPool
	log   string
	done  chan struct{}
	err   error
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the proxy: SIGTERM, then SIGKILL after five seconds.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logTail returns the end of the proxy's output, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// coldStartTimeout bounds the wait for a proxy's first answer.
const coldStartTimeout = 30 * time.Second

// start runs a proxy in a fresh dir and measures its cold start: the time
// from exec to the first successful proxied GET /small, polled every
// millisecond with a new connection each try.
func start(ctx context.Context, launch launcher, dir string, o *origin) (*proc, time.Duration, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("proxy dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	cmd, caFile := launch(ctx, dir, port)
	logFile := filepath.Join(dir, "proxy.log")
	lf, err := os.Create(logFile)
	if err != nil {
		return nil, 0, fmt.Errorf("proxy log: %w", err)
	}
	defer func() { _ = lf.Close() }()
	cmd.Stdout, cmd.Stderr = lf, lf
	p := &proc{
		cmd:  cmd,
		url:  &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))},
		log:  logFile,
		done: make(chan struct{}),
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()

	deadline := t0.Add(coldStartTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			err := p.err
			if err == nil {
				err = errors.New("exit status 0")
			}
			return nil, 0, fmt.Errorf("%s exited before serving (%w): %s", filepath.Base(cmd.Path), err, p.logTail())
		}
		if p.roots == nil {
			if p.roots, last = loadPEMPool(caFile); last != nil {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		if last = probe(ctx, p.url, p.roots, o); last == nil {
			return p, time.Since(t0), nil
		}
		time.Sleep(time.Millisecond)
	}
	p.stop()
	return nil, 0, fmt.Errorf("%s did not serve a proxied request within %s (last error: %w): %s",
		filepath.Base(cmd.Path), coldStartTimeout, last, p.logTail())
}

// probe sends one GET /small through the proxy on a new connection.
func probe(ctx context.Context, proxy *url.URL, roots *x509.CertPool, o *origin) error {
	tr := newTransport(proxy, roots, o.addr, 1, false)
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+benchHost+"/small", nil)
	if err != nil {
		return err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != smallSize {
		return fmt.Errorf("GET /small: %s, %d bytes", resp.Status, n)
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	return port, nil
}
