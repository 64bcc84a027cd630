package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/corpus"
)

// scenario is one load shape.
type scenario struct {
	key       string
	title     string
	method    string
	path      string
	body      []byte
	want      int64 // response body size; -1 to skip the check
	conc      int
	keepAlive bool
}

func scenarioKeys() []string {
	var keys []string
	for _, sc := range scenarios() {
		keys = append(keys, sc.key)
	}
	return keys
}

func scenarios() []scenario {
	upload := lorem(uploadSize)
	return []scenario{
		{key: "ka1", title: "GET 1 KiB, keep-alive, concurrency 1", method: http.MethodGet, path: "/small", want: smallSize, conc: 1, keepAlive: true},
		{key: "ka8", title: "GET 1 KiB, keep-alive, concurrency 8", method: http.MethodGet, path: "/small", want: smallSize, conc: 8, keepAlive: true},
		{key: "ka64", title: "GET 1 KiB, keep-alive, concurrency 64", method: http.MethodGet, path: "/small", want: smallSize, conc: 64, keepAlive: true},
		{key: "new8", title: "GET 1 KiB, new connection per request, concurrency 8", method: http.MethodGet, path: "/small", want: smallSize, conc: 8},
		{key: "big8", title: "GET 1 MiB, keep-alive, concurrency 8", method: http.MethodGet, path: "/big", want: bigSize, conc: 8, keepAlive: true},
		{key: "post8", title: "POST 256 KiB (DLP scans it), keep-alive, concurrency 8", method: http.MethodPost, path: "/upload", body: upload, want: -1, conc: 8, keepAlive: true},
		// What agent CLIs send: the corpora BenchmarkBodyScan scans alone.
		{key: "b64-8", title: "POST 200 KB of base64 text (an image in a model request), keep-alive, concurrency 8", method: http.MethodPost, path: "/upload", body: corpus.Base64(200 << 10), want: -1, conc: 8, keepAlive: true},
		{key: "json-8", title: "POST 300 KB model-API JSON conversation, keep-alive, concurrency 8", method: http.MethodPost, path: "/upload", body: corpus.ModelJSON(300 << 10), want: -1, conc: 8, keepAlive: true},
		{key: "src-8", title: "POST 256 KB of source code, keep-alive, concurrency 8", method: http.MethodPost, path: "/upload", body: corpus.Source(256 << 10), want: -1, conc: 8, keepAlive: true},
		{key: "up50", title: "POST a 50 MB upload, keep-alive, concurrency 1", method: http.MethodPost, path: "/upload", body: corpus.Base64(50 << 20), want: -1, conc: 1, keepAlive: true},
	}
}

// newTransport returns the client's transport: HTTP/1.1 only, to the proxy
// and through its tunnel, trusting roots. Without a proxy it dials the
// origin's address for benchHost.
func newTransport(proxy *url.URL, roots *x509.CertPool, originAddr string, conc int, keepAlive bool) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == benchHost+":443" {
				addr = originAddr
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{
			RootCAs:    roots,
			NextProtos: []string{"http/1.1"},
			MinVersion: tls.VersionTLS12,
		},
		// A non-nil empty map turns HTTP/2 off.
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		DisableKeepAlives:   !keepAlive,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return tr
}

// target is how the client reaches the origin in one mode.
type target struct {
	proxy *url.URL // nil: direct
	roots *x509.CertPool
	auth  string // Authorization the client sends itself (direct only)
	pid   int    // the proxy's process, 0 when direct
}

// result is one scenario's measurement in one mode.
type result struct {
	requests int64
	errors   int64
	firstErr string
	bytes    int64 // request plus response bodies
	elapsed  time.Duration
	p50, p99 time.Duration
	// The proxy's process, during the measured phase.
	cpu      time.Duration
	rss, hwm int64
}

func (r result) reqPerSec() float64 { return float64(r.requests) / r.elapsed.Seconds() }
func (r result) mbPerSec() float64  { return float64(r.bytes) / 1e6 / r.elapsed.Seconds() }
func (r result) cpuPerReq() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

// phase is what the workers of one timed phase saw.
type phase struct {
	requests, errors, bytes int64
	firstErr                string
	lat                     []time.Duration
	elapsed                 time.Duration
}

// runScenario warms the connections up, then runs sc for dur and measures
// the client side and the proxy's process.
func runScenario(ctx context.Context, tg target, originAddr string, sc scenario, warmup, dur time.Duration, ticks int64) (result, error) {
	tr := newTransport(tg.proxy, tg.roots, originAddr, sc.conc, sc.keepAlive)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	if warmup > 0 {
		load(ctx, client, tg, sc, warmup)
	}
	var cpu0 time.Duration
	if tg.pid != 0 {
		var err error
		if cpu0, err = procCPU(tg.pid, ticks); err != nil {
			return result{}, fmt.Errorf("proxy CPU: %w", err)
		}
	}
	ph := load(ctx, client, tg, sc, dur)
	res := result{
		requests: ph.requests,
		errors:   ph.errors,
		firstErr: ph.firstErr,
		bytes:    ph.bytes,
		elapsed:  ph.elapsed,
		p50:      percentile(ph.lat, 50),
		p99:      percentile(ph.lat, 99),
	}
	if tg.pid != 0 {
		cpu1, err := procCPU(tg.pid, ticks)
		if err != nil {
			return result{}, fmt.Errorf("proxy CPU: %w", err)
		}
		res.cpu = cpu1 - cpu0
		if res.rss, res.hwm, err = procMem(tg.pid); err != nil {
			return result{}, fmt.Errorf("proxy memory: %w", err)
		}
	}
	return res, nil
}

// load runs sc.conc workers for d, each sending requests back to back.
func load(ctx context.Context, client *http.Client, tg target, sc scenario, d time.Duration) phase {
	var (
		mu  sync.Mutex
		all phase
		wg  sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for range sc.conc {
		wg.Go(func() {
			var my phase
			my.lat = make([]time.Duration, 0, 4096)
			for time.Now().Before(end) && ctx.Err() == nil {
				t := time.Now()
				n, err := once(ctx, client, tg, sc)
				if err != nil {
					my.errors++
					if my.firstErr == "" {
						my.firstErr = err.Error()
					}
					continue
				}
				my.lat = append(my.lat, time.Since(t))
				my.requests++
				my.bytes += n + int64(len(sc.body))
			}
			mu.Lock()
			defer mu.Unlock()
			all.requests += my.requests
			all.errors += my.errors
			all.bytes += my.bytes
			all.lat = append(all.lat, my.lat...)
			if all.firstErr == "" {
				all.firstErr = my.firstErr
			}
		})
	}
	wg.Wait()
	all.elapsed = time.Since(start)
	return all
}

// once sends one request and reads the whole response; it returns the
// response body's size.
func once(ctx context.Context, client *http.Client, tg target, sc scenario) (int64, error) {
	var body io.Reader
	if sc.body != nil {
		body = bytes.NewReader(sc.body)
	}
	req, err := http.NewRequestWithContext(ctx, sc.method, "https://"+benchHost+sc.path, body)
	if err != nil {
		return 0, err
	}
	if sc.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tg.auth != "" {
		req.Header.Set("Authorization", tg.auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("%s %s: %s", sc.method, sc.path, resp.Status)
	}
	if sc.want >= 0 && n != sc.want {
		return n, fmt.Errorf("%s %s: %d bytes, want %d", sc.method, sc.path, n, sc.want)
	}
	return n, nil
}

// percentile returns the p-th percentile (nearest rank) of lat, sorting it.
func percentile(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := (len(lat)*p + 99) / 100
	return lat[max(i-1, 0)]
}
