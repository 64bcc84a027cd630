package egress

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// Limits on what outbound DLP reads. A body that cannot be scanned whole
// is refused, not passed unscanned.
const (
	maxScanBody    = 32 << 20
	maxDecodedBody = 64 << 20
	maxDecodeScan  = 64 << 10
)

// Supervisor holds a request whose DLP match the route sends to the
// operator (a bottle's sidecar wires supervise's board); without one such
// requests are refused at once. Approve's error says why it refused.
type Supervisor interface {
	Approve(r *http.Request, findings []dlp.Finding) (bool, error)
}

// outbound scans one allowed request before it leaves. It may rewrite the
// request (redact) or refuse it.
func (p *Proxy) outbound(st *state, rt *policy.Route, t target, r *http.Request) *refusal {
	known := st.scanner != nil
	patterns := slices.Contains(rt.DLP.Outbound, dlp.TokenPatterns)
	if !known && !patterns {
		return nil
	}
	body, decoded, rf := readBody(r)
	if rf != nil {
		return rf
	}
	header := ""
	if rt.Auth != nil {
		header = rt.Auth.HeaderName()
	}
	surfaces := requestSurfaces(t, r, decoded, header)
	var findings []dlp.Finding
	if known {
		// One pass over all surfaces joined: cheap when nothing matches.
		var all strings.Builder
		for _, s := range surfaces {
			all.WriteString(s.text)
			all.WriteString("\n")
		}
		for _, f := range st.scanner.ScanKnown("request", all.String()) {
			f.Surface = surfaceOf(surfaces, f.Text())
			findings = append(findings, f)
		}
	}
	// Security: a secret sent anywhere but the hosts it belongs to is
	// refused whatever the route's DLP settings say.
	for _, f := range findings {
		if !slices.Contains(f.Hosts, rt.Host) {
			return refuse(BlockDLPOutbound, "the credential in %s (%s form) belongs to %s, not %s", f.Slot, f.Rule, strings.Join(f.Hosts, ", "), rt.Host)
		}
	}
	if !slices.Contains(rt.DLP.Outbound, dlp.KnownSecrets) {
		findings = nil
	}
	if patterns {
		// Headers, path and query are scanned as written; bodies, where
		// encoded payloads travel, are decoded too up to maxDecodeScan
		// (gitleaks' segment decoder costs about 40 ms per 256 KiB).
		// Known secrets are found in every encoding at any size.
		var head strings.Builder
		for _, s := range surfaces {
			// Header names are left out: in canonical case no token
			// pattern survives in them, and the known secrets are
			// looked for there above.
			if s.name != "host" && s.name != "body" && s.name != "header names" {
				head.WriteString(s.text)
				head.WriteByte('\n')
			}
		}
		for _, part := range []struct {
			text     string
			decoding bool
		}{{head.String(), false}, {string(decoded), len(decoded) <= maxDecodeScan}} {
			fs, err := dlp.ScanPatterns("request", part.text, part.decoding)
			if err != nil {
				return refuse(BlockDLPOutbound, "the token scanner is unavailable (%v); refusing rather than sending unscanned", err)
			}
			for _, f := range fs {
				f.Surface = surfaceOf(surfaces, f.Text())
				findings = append(findings, f)
			}
		}
	}
	if len(findings) == 0 {
		resetBody(r, body)
		return nil
	}
	switch rt.DLP.OnMatch {
	case "redact":
		if rf := redact(r, findings, decoded); rf != nil {
			return rf
		}
		return nil
	case "supervise":
		if p.supervisor != nil {
			ok, err := p.supervisor.Approve(r, findings)
			if err == nil && ok {
				resetBody(r, body)
				return nil
			}
			if err != nil {
				return refuse(BlockDLPOutbound, "%s; the route sends matches to the operator: %v", describe(findings), err)
			}
			return refuse(BlockDLPOutbound, "%s; the operator did not release it", describe(findings))
		}
		return refuse(BlockDLPOutbound, "%s; the route sends matches to the operator, but no operator channel is wired, so it is refused", describe(findings))
	}
	return refuse(BlockDLPOutbound, "%s", describe(findings))
}

func describe(fs []dlp.Finding) string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		what := f.Rule
		if f.Slot != "" {
			what = f.Slot + " (" + f.Rule + " form)"
		}
		parts = append(parts, fmt.Sprintf("%s %s in %s", f.Detector, what, f.Surface))
	}
	return "outbound DLP matched " + strings.Join(parts, "; ")
}

type surface struct{ name, text string }

// requestSurfaces lists what an agent controls in a request: the host
// labels, path, query, headers and body (decoded). The values of the
// credential headers the proxy drops (see isCredentialHeader; authHeader
// is the route's, or "") are left out.
func requestSurfaces(t target, r *http.Request, body []byte, authHeader string) []surface {
	s := []surface{{"host", t.host}, {"path", r.URL.EscapedPath()}}
	if p, err := url.PathUnescape(r.URL.EscapedPath()); err == nil {
		s = append(s, surface{"path", p})
	}
	if q := r.URL.RawQuery; q != "" {
		s = append(s, surface{"query", q})
		if d, err := url.QueryUnescape(q); err == nil {
			s = append(s, surface{"query", d})
		}
	}
	// Header names are a channel too. Go and HTTP/2 put them in canonical
	// case (the first letter and each after "-" upper, the rest lower),
	// so only their lowercased form keeps what the agent sent: a
	// lowercase or hex value is found there.
	var names strings.Builder
	names.Grow(24 * len(r.Header))
	for name, vs := range r.Header {
		for i := 0; i < len(name); i++ {
			c := name[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			names.WriteByte(c)
		}
		names.WriteByte('\n')
		// The agent's Authorization, and on a route with auth its auth
		// header, are dropped before forwarding; their placeholder must
		// not trip the scanners.
		if name == "Authorization" || name == "Proxy-Authorization" || (authHeader != "" && isCredentialHeader(name, authHeader)) {
			continue
		}
		for _, v := range vs {
			s = append(s, surface{"header " + name, v})
		}
	}
	s = append(s, surface{"header names", names.String()})
	if len(body) > 0 {
		s = append(s, surface{"body", string(body)})
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			if d, err := url.QueryUnescape(string(body)); err == nil {
				s = append(s, surface{"body", d})
			}
		}
	}
	return s
}

func surfaceOf(ss []surface, text string) string {
	for _, s := range ss {
		if text != "" && strings.Contains(s.text, text) {
			return s.name
		}
	}
	return "request"
}

// readBody reads the whole request body (bounded) and decodes its
// Content-Encoding. It returns the raw bytes and the decoded ones.
func readBody(r *http.Request) (raw, decoded []byte, rf *refusal) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxScanBody+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, nil, refuse(BlockBadRequest, "reading the request body: %v", err)
	}
	if len(raw) > maxScanBody {
		return nil, nil, refuse(BlockDLPOutbound, "the request body is over %d MiB and cannot be scanned", maxScanBody>>20)
	}
	decoded = raw
	encs := r.Header.Values("Content-Encoding")
	for _, line := range slices.Backward(encs) {
		for _, enc := range slices.Backward(strings.Split(line, ",")) {
			decoded, err = decode(strings.TrimSpace(strings.ToLower(enc)), decoded)
			if err != nil {
				return nil, nil, refuse(BlockDLPOutbound, "the request body's %s encoding cannot be decoded for scanning: %v", enc, err)
			}
		}
	}
	return raw, decoded, nil
}

func decode(enc string, b []byte) ([]byte, error) {
	var rd io.Reader
	switch enc {
	case "", "identity":
		return b, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		rd = zr
	case "deflate":
		// RFC 9110 deflate is zlib-wrapped; some clients send raw deflate.
		if zr, err := zlib.NewReader(bytes.NewReader(b)); err == nil {
			rd = zr
		} else {
			rd = flate.NewReader(bytes.NewReader(b))
		}
	case "br":
		rd = brotli.NewReader(bytes.NewReader(b))
	default:
		return nil, errors.New("unknown content encoding")
	}
	out, err := io.ReadAll(io.LimitReader(rd, maxDecodedBody+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxDecodedBody {
		return nil, fmt.Errorf("decodes to over %d MiB", maxDecodedBody>>20)
	}
	return out, nil
}

func resetBody(r *http.Request, b []byte) {
	if b == nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
}

const redacted = "[REDACTED]"

// redact removes each finding's text from the request. A finding it
// cannot remove exactly (in the host name, or only visible with
// separators stripped) refuses the request instead.
func redact(r *http.Request, fs []dlp.Finding, body []byte) *refusal {
	for _, f := range fs {
		// "request" means the match was only visible decoded (base64 and
		// the like): replacing the decoded text would change nothing.
		if f.Surface == "host" || f.Surface == "header names" || f.Surface == "request" || f.Text() == "" {
			return refuse(BlockDLPOutbound, "%s; it cannot be redacted from there", describe([]dlp.Finding{f}))
		}
	}
	for _, f := range fs {
		old := f.Text()
		for name, vs := range r.Header {
			for i, v := range vs {
				r.Header[name][i] = strings.ReplaceAll(v, old, redacted)
			}
		}
		r.URL.Path = strings.ReplaceAll(r.URL.Path, old, redacted)
		r.URL.RawPath = ""
		r.URL.RawQuery = strings.ReplaceAll(r.URL.RawQuery, old, url.QueryEscape(redacted))
		body = bytes.ReplaceAll(body, []byte(old), []byte(redacted))
	}
	if body != nil {
		// The body goes on decoded: re-encoding is not worth its risk.
		r.Header.Del("Content-Encoding")
		resetBody(r, body)
	}
	return nil
}
