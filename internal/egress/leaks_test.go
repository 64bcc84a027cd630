package egress

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/bot-bottle/bot-bottle/internal/audit"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// leakEnv is a proxy whose upstreams reflect everything they get back,
// with a real audit log and a captured sidecar log.
type leakEnv struct {
	proxy     string
	caFile    string
	p         *Proxy
	auditFile string
	log       *backendtest.SyncBuffer
	plain     *rawListener
	audit     *AuditLog
}

// rawListener is a plain TCP upstream that keeps every byte it receives.
type rawListener struct {
	ln  net.Listener
	mu  sync.Mutex
	got []byte
}

func newRawListener(t *testing.T) *rawListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &rawListener{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				n, _ := c.Read(buf)
				rl.mu.Lock()
				rl.got = append(rl.got, buf[:n]...)
				rl.mu.Unlock()
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			}()
		}
	}()
	return rl
}

func (rl *rawListener) Got() string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return string(rl.got)
}

// jsonEscapeAll writes every byte of s as a \u escape.
func jsonEscapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\u%04x`, s[i])
	}
	return b.String()
}

// echo answers with every request header reflected: in response headers,
// a cookie, a Location, trailers, and a JSON body holding them raw,
// base64, URL-encoded and \u-escaped, written a few bytes at a time and
// compressed as ?enc= asks.
func echo(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	tok := strings.TrimPrefix(auth, "Bearer ")
	if r.URL.Query().Has("hints") {
		w.Header().Set("Link", "</style.css?auth="+url.QueryEscape(auth)+">; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
	}
	w.Header().Set("X-Echo-Authorization", auth)
	w.Header().Set("Set-Cookie", "session="+url.QueryEscape(auth)+"; Path=/")
	w.Header().Set("Location", "https://api.test/callback?token="+url.QueryEscape(tok))
	w.Header().Set("Trailer", "X-Echo-Trailer")
	w.Header().Set("Content-Type", "application/json")
	headers, _ := json.Marshal(r.Header)
	body := fmt.Sprintf(`{"headers":%s,"b64":%q,"b64url":%q,"b64tok":%q,"url":%q,"u":"%s","slashed":"%s"}`,
		headers, base64.StdEncoding.EncodeToString([]byte(auth)), base64.RawURLEncoding.EncodeToString([]byte(auth)),
		base64.StdEncoding.EncodeToString([]byte("xy"+tok)), url.QueryEscape(auth), jsonEscapeAll(tok),
		strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte(auth)), "/", `\/`))
	var out io.Writer = w
	var closer io.Closer
	switch enc := r.URL.Query().Get("enc"); enc {
	case "gzip":
		zw := gzip.NewWriter(w)
		out, closer = zw, zw
	case "deflate":
		zw := zlib.NewWriter(w)
		out, closer = zw, zw
	case "br":
		zw := brotli.NewWriter(w)
		out, closer = zw, zw
	case "zstd":
		zw, _ := zstd.NewWriter(w)
		out, closer = zw, zw
	}
	if closer != nil {
		w.Header().Set("Content-Encoding", r.URL.Query().Get("enc"))
	}
	for i := 0; i < len(body); i += 7 {
		_, _ = io.WriteString(out, body[i:min(i+7, len(body))])
		if f, ok := out.(interface{ Flush() error }); ok {
			_ = f.Flush()
		}
		w.(http.Flusher).Flush()
	}
	if closer != nil {
		_ = closer.Close()
	}
	w.Header().Set("X-Echo-Trailer", auth)
}

// newLeakEnv pins api.test to the echo upstream, or with plainAPI to a
// plain TCP listener that records what it gets (as open.test always is).
func newLeakEnv(t *testing.T, plainAPI bool) *leakEnv {
	t.Helper()
	upCA := mustCA(t, "upstream")
	srv := tlsServer(t, upCA, "api.test", http.HandlerFunc(echo), true)
	plain := newRawListener(t)
	roots := rootsOf(upCA)
	pol := mustPolicy(t, dlpPolicy)
	ca := mustCA(t, "t")
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "audit.jsonl")
	w, err := audit.Open(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	resolve := map[string]string{"api.test": srv.Listener.Addr().String(), "open.test": plain.ln.Addr().String()}
	if plainAPI {
		resolve["api.test"] = plain.ln.Addr().String()
	}
	logs := &backendtest.SyncBuffer{}
	al := &AuditLog{W: w, Bottle: "t", Log: slog.New(slog.DiscardHandler)}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(Config{
		Policy:        pol,
		CA:            ca,
		Secrets:       map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)},
		Resolve:       resolve,
		UpstreamRoots: roots,
		Audit:         al,
		Log:           log,
	})
	if err != nil {
		t.Fatal(err)
	}
	proxy, caFile := frontForCurl(t, p, ca)
	return &leakEnv{proxy: proxy, caFile: caFile, p: p, auditFile: auditFile, log: logs, plain: plain, audit: al}
}

func curlBin(t *testing.T) string {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required for the egress client tests (apt-get install curl)")
	}
	return curl
}

// leakedForms lists how the token could reach the agent: the forms the
// echo upstream writes, and the token decoded from \u and % escapes.
func leakedForms(out string) []string {
	auth := "Bearer " + testSecret
	forms := []string{testSecret, base64.StdEncoding.EncodeToString([]byte(auth)), base64.RawURLEncoding.EncodeToString([]byte(auth)),
		base64.StdEncoding.EncodeToString([]byte("xy" + testSecret)), url.QueryEscape(auth), jsonEscapeAll(testSecret),
		strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte(auth)), "/", `\/`)}
	// The token's base64 at any alignment, without the padding-dependent ends.
	for k := range 3 {
		e := base64.RawStdEncoding.EncodeToString(append(make([]byte, k), testSecret...))
		forms = append(forms, e[k+2:len(e)-2])
	}
	var got []string
	decoded, _ := url.QueryUnescape(strings.ReplaceAll(out, `\u00`, "%"))
	for _, f := range forms {
		if strings.Contains(out, f) || strings.Contains(decoded, f) {
			got = append(got, f)
		}
	}
	return got
}

// TestReflectedCredentialNeverReachesAgent: an upstream reflects the
// injected credential in headers, cookies, Location, trailers and a JSON
// body in several encodings, compressed or not, over HTTP/1.1 and h2; a
// real curl through the proxy must see none of it.
func TestReflectedCredentialNeverReachesAgent(t *testing.T) {
	e := newLeakEnv(t, false)
	curl := curlBin(t)
	for _, enc := range []string{"", "gzip", "deflate", "br", "zstd"} {
		for _, proto := range []string{"--http1.1", "--http2"} {
			t.Run(enc+proto, func(t *testing.T) {
				args := []string{"-sS", "-i", proto, "--proxy", e.proxy, "--cacert", e.caFile, "-H", "Authorization: Bearer agent-placeholder"}
				if enc != "" {
					args = append(args, "-H", "Accept-Encoding: "+enc)
				}
				out := run(t, t.TempDir(), curl, append(args, "https://api.test/echo?hints&enc="+enc)...)
				if !strings.Contains(out, `"headers"`) || !strings.Contains(out, " 103") || !strings.Contains(out, "[REDACTED]") {
					t.Fatalf("the echo did not come back redacted:\n%s", out)
				}
				if got := leakedForms(out); len(got) > 0 {
					t.Errorf("the agent got the credential as %q:\n%s", got, out)
				}
			})
		}
	}
	// The audit says which response it masked.
	data, err := os.ReadFile(e.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"rule":"`+RuleResponseSecret+`"`) {
		t.Errorf("the audit log does not record the masked responses:\n%s", data)
	}
}

// TestPlainHTTPWithCredentialRefused: the credential is never injected
// into plain http://; the upstream gets nothing, the agent a 403 saying to
// use https. A route without auth still passes plain http.
func TestPlainHTTPWithCredentialRefused(t *testing.T) {
	e := newLeakEnv(t, true)
	curl := curlBin(t)
	out, _ := runErr(t.TempDir(), nil, curl, "-sS", "-i", "--proxy", e.proxy, "-H", "Authorization: Bearer agent-placeholder", "http://api.test/v1/models")
	if !strings.Contains(out, "403") || !strings.Contains(strings.ToLower(out), "x-bot-bottle-block: "+BlockPlainHTTP) || !strings.Contains(out, "https://api.test/v1/models") {
		t.Errorf("plain http on an auth route = %q, want a 403 %s saying to use https", out, BlockPlainHTTP)
	}
	if got := e.plain.Got(); got != "" {
		t.Fatalf("the upstream got a plain http request on the auth route:\n%s", got)
	}
	out = run(t, t.TempDir(), curl, "-sS", "--proxy", e.proxy, "http://open.test/x")
	if out != "ok" || !strings.Contains(e.plain.Got(), "GET /x") {
		t.Errorf("plain http on a route without auth = %q, upstream got %q", out, e.plain.Got())
	}
}

// TestRecordsHoldNoSecret: requests carrying the secret (plain, base64,
// in a host label, a path, a CONNECT host) and an AWS-key-shaped value
// are refused; the audit log, the sidecar's log, /refusals and the 403
// pages hold none of it.
func TestRecordsHoldNoSecret(t *testing.T) {
	e := newLeakEnv(t, false)
	curl := curlBin(t)
	b64 := base64.StdEncoding.EncodeToString([]byte(testSecret))
	aws := "AKIAZ3MHN6VQ4RTWPX2L"
	var pages strings.Builder
	for _, u := range []string{
		"https://" + testSecret + ".other.test/",
		"https://" + strings.ToUpper(testSecret) + ".other.test/",
		"http://other.test/" + testSecret,
		"http://other.test/x/" + b64,
		"http://" + testSecret + ".other.test/",
		"https://api.test/v1/" + testSecret,
		"https://api.test/v1/" + url.PathEscape(b64),
		"https://api.test/v1/keys/" + aws,
	} {
		out, _ := runErr(t.TempDir(), nil, curl, "-sS", "-i", "--proxy", e.proxy, "--cacert", e.caFile, "-X", "POST", "-d", "x=1", u)
		if !strings.Contains(out, "403") {
			t.Errorf("%s was not refused: %q", u, out)
		}
		pages.WriteString(out)
	}
	// A record that does not come through the proxy (the DNS gate's).
	e.audit.Record(Event{Method: "DNS", Host: testSecret + ".evil.test", Decision: "block", Rule: "dns-not-allowed"})
	refusals := run(t, t.TempDir(), curl, "-sS", "--proxy", e.proxy, "http://_egress.local/refusals")
	if !strings.Contains(refusals, "host-not-allowed") || !strings.Contains(refusals, "dlp-outbound") {
		t.Fatalf("/refusals lacks the refusals: %s", refusals)
	}
	auditLog, err := os.ReadFile(e.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := audit.Verify(bytes.NewReader(auditLog)); err != nil || n < 9 {
		t.Fatalf("audit log: %d lines, %v", n, err)
	}
	for name, rec := range map[string]string{"audit log": string(auditLog), "sidecar log": e.log.String(), "/refusals": refusals, "403 pages": pages.String()} {
		low := strings.ToLower(rec)
		for _, f := range []string{strings.ToLower(testSecret), strings.ToLower(b64), strings.ToLower(url.PathEscape(b64)), strings.ToLower(aws)} {
			if strings.Contains(low, f) {
				t.Errorf("the %s holds %q:\n%s", name, f, rec)
			}
		}
		if !strings.Contains(rec, "[REDACTED]") {
			t.Errorf("the %s shows no redaction; the check proves nothing:\n%s", name, rec)
		}
	}
}
