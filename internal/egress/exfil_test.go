package egress

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// dlpPolicy: api.test owns the secret and scans everything; open.test has
// DLP off; redact.test and sup.test scan token patterns and redact or
// supervise.
const dlpPolicy = `{
  "version": 1, "bottle": "t", "log": 0,
  "routes": [
    {"host": "api.test", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"},
     "dlp": {"outbound": ["token_patterns", "known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false},
    {"host": "open.test", "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false},
    {"host": "redact.test", "dlp": {"outbound": ["token_patterns"], "inbound": [], "on_match": "redact"}, "git_fetch": false},
    {"host": "sup.test", "dlp": {"outbound": ["token_patterns"], "inbound": [], "on_match": "supervise"}, "git_fetch": false}
  ],
  "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "API_TOKEN", "hosts": ["api.test"]}]
}`

// secretForms are the encodings an agent could use to smuggle the secret.
var secretForms = map[string]string{
	"plain":     testSecret,
	"base64":    base64.StdEncoding.EncodeToString([]byte("x" + testSecret)),
	"base64url": base64.RawURLEncoding.EncodeToString([]byte("xy" + testSecret)),
	"hex":       hex.EncodeToString([]byte(testSecret)),
	"urlencode": url.QueryEscape("a b:" + testSecret),
	"dashed":    strings.Join(strings.Split(testSecret, ""), "-"),
}

func compress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExfiltrationTable sends the secret in every form through every
// surface, to the host it belongs to (which scans) and to a host with DLP
// off (where the binding rule must still refuse it). Every row must be
// refused with dlp-outbound and reach no upstream.
func TestExfiltrationTable(t *testing.T) {
	e := newEnvWith(t, dlpPolicy)
	c := e.client(false)
	type row struct {
		name string
		req  func(host, v string) *http.Request
	}
	rows := []row{
		{"path", func(h, v string) *http.Request {
			r, _ := http.NewRequest("GET", "https://"+h+"/x/"+url.PathEscape(v), nil)
			return r
		}},
		{"query", func(h, v string) *http.Request {
			r, _ := http.NewRequest("GET", "https://"+h+"/x?q="+url.QueryEscape(v), nil)
			return r
		}},
		{"header", func(h, v string) *http.Request {
			r, _ := http.NewRequest("GET", "https://"+h+"/x", nil)
			r.Header.Set("X-Debug", v)
			return r
		}},
		{"cookie", func(h, v string) *http.Request {
			r, _ := http.NewRequest("GET", "https://"+h+"/x", nil)
			r.Header.Set("Cookie", "s="+url.QueryEscape(v))
			return r
		}},
		{"body", func(h, v string) *http.Request {
			r, _ := http.NewRequest("POST", "https://"+h+"/x", strings.NewReader(`{"data":"`+v+`"}`))
			return r
		}},
		{"form", func(h, v string) *http.Request {
			r, _ := http.NewRequest("POST", "https://"+h+"/x", strings.NewReader("a=1&b="+url.QueryEscape(v)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}},
	}
	for _, enc := range []string{"gzip", "deflate", "br"} {
		rows = append(rows, row{"body-" + enc, func(h, v string) *http.Request {
			r, _ := http.NewRequest("POST", "https://"+h+"/x", bytes.NewReader(compress(t, enc, []byte("payload "+v))))
			r.Header.Set("Content-Encoding", enc)
			return r
		}})
	}
	n := 0
	for _, host := range []string{"api.test", "open.test"} {
		for _, rw := range rows {
			for form, v := range secretForms {
				n++
				name := fmt.Sprintf("%s/%s/%s", host, rw.name, form)
				resp, err := c.Do(rw.req(host, v))
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				code := resp.Header.Get(BlockHeader)
				// A percent-encoded form put in a path is double-encoded,
				// which the path rules refuse before DLP looks.
				pathRule := rw.name == "path" && code == BlockBadPath
				if resp.StatusCode != 403 || (code != BlockDLPOutbound && !pathRule) {
					t.Errorf("%s: got %d %q %q, want 403 dlp-outbound", name, resp.StatusCode, resp.Header.Get(BlockHeader), body)
				}
				if bytes.Contains(body, []byte(testSecret)) {
					t.Errorf("%s: the refusal shows the secret", name)
				}
			}
		}
	}
	if hits := e.up.Hits(); len(hits) != 0 {
		t.Errorf("%d of %d exfiltration attempts reached an upstream: %+v", len(hits), n, hits[0])
	}
	t.Logf("%d exfiltration attempts, all refused", n)
}

func TestTokenPatternOnMatch(t *testing.T) {
	e := newEnvWith(t, dlpPolicy)
	c := e.client(false)
	gh := "ghp_" + strings.Repeat("a1B2c3D4e5", 4)[:36]
	post := func(host string) (int, string) {
		r, _ := http.NewRequest("POST", "https://"+host+"/x", strings.NewReader("token="+gh+"&x=1"))
		r.Header.Set("X-Note", "key "+gh)
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get(BlockHeader)
	}
	// block and supervise (no operator channel) refuse.
	for _, h := range []string{"api.test", "sup.test"} {
		if status, code := post(h); status != 403 || code != BlockDLPOutbound {
			t.Errorf("%s: %d %q, want refused", h, status, code)
		}
	}
	// DLP off: passes untouched.
	if status, _ := post("open.test"); status != 200 {
		t.Errorf("open.test: %d", status)
	}
	// redact: passes with the token replaced everywhere.
	if status, _ := post("redact.test"); status != 200 {
		t.Errorf("redact.test: %d", status)
	}
	hits := e.up.Hits()
	if len(hits) != 2 {
		t.Fatalf("upstream hits = %d, want 2 (open.test, redact.test)", len(hits))
	}
	for _, h := range hits {
		switch h.Host {
		case "open.test":
			if !strings.Contains(h.Body, gh) {
				t.Errorf("open.test body lost the token: %q", h.Body)
			}
		case "redact.test":
			if strings.Contains(h.Body, gh) || strings.Contains(h.Header.Get("X-Note"), gh) || !strings.Contains(h.Body, "REDACTED") {
				t.Errorf("redact.test saw body %q, X-Note %q; want the token redacted", h.Body, h.Header.Get("X-Note"))
			}
		}
	}
}

// TestRedactRefusesEncodedMatch: a token that is only visible decoded
// cannot be redacted in place, so redact refuses instead of passing it.
func TestRedactRefusesEncodedMatch(t *testing.T) {
	e := newEnvWith(t, dlpPolicy)
	gh := "ghp_" + strings.Repeat("a1B2c3D4e5", 4)[:36]
	enc := base64.StdEncoding.EncodeToString([]byte("token: " + gh + "\n"))
	r, _ := http.NewRequest("POST", "https://redact.test/x", strings.NewReader("data="+enc))
	resp, err := e.client(false).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get(BlockHeader) != BlockDLPOutbound {
		t.Errorf("encoded token to a redact route = %d %q, want refused", resp.StatusCode, resp.Header.Get(BlockHeader))
	}
	if len(e.up.Hits()) != 0 {
		t.Errorf("the encoded token reached the upstream")
	}
}
