//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("http target %q is not an http or https URL", s)
	}
	return nil
}

// probeHTTP sends GET target directly, ignoring HTTP_PROXY and friends and
// not following redirects. Reached means a TCP connection to the target
// was established, even if TLS or HTTP then failed.
func probeHTTP(ctx context.Context, target string) hits.ProbeResult {
	r := hits.ProbeResult{Op: hits.OpHTTP, Target: target}
	var (
		mu        sync.Mutex
		connected string
	)
	trace := &httptrace.ClientTrace{
		ConnectDone: func(_, addr string, err error) {
			if err == nil {
				mu.Lock()
				connected = addr
				mu.Unlock()
			}
		},
	}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(ctx, trace), attemptTimeout)
	defer cancel()
	tr := &http.Transport{
		Proxy: nil,
		// The probe asks whether the target is reachable, not whether it
		// is authentic.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // G402: see above.
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// Requesting the URL it is given is the probe's job.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil) //nolint:gosec // G704: see above.
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	resp, err := client.Do(req) //nolint:gosec // G704: see above.
	mu.Lock()
	addr := connected
	mu.Unlock()
	if err != nil {
		r.Reached = addr != ""
		if r.Reached {
			r.Detail = fmt.Sprintf("connected to %s, then: %s", addr, errDetail(err))
		} else {
			r.Detail = errDetail(err)
		}
		return r
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	r.Reached = true
	r.Detail = fmt.Sprintf("%s %s from %s; body %q", resp.Proto, resp.Status, addr, body)
	return r
}
