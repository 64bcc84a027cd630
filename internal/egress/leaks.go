package egress

import (
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// Rule codes of the credential's own protections.
const (
	// BlockPlainHTTP refuses a plain http:// request on a route whose
	// credential the sidecar injects: it would travel in clear text.
	BlockPlainHTTP = "plain-http-credential"
	// RuleResponseSecret marks a response from which the sidecar masked a
	// secret it holds (an upstream reflecting the injected credential).
	RuleResponseSecret = "secret-in-response"
	// BlockResponseEncoding replaces a response whose Content-Encoding
	// the proxy cannot decode, so cannot scan for the secrets.
	BlockResponseEncoding = "response-encoding"
)

// plainCredential refuses plain HTTP on a route with auth: the credential
// is injected into every request of the route and must never travel in
// clear text.
func plainCredential(rt *policy.Route, t target, path string) *refusal {
	if rt.Auth == nil || t.tls {
		return nil
	}
	return refuse(BlockPlainHTTP, "%s injects a credential, which never travels over plain http://; use https://%s%s", rt.Host, t.host, path)
}

// usesPatterns reports whether any route runs the token patterns, so
// that records are scrubbed of their matches too (the rules are loaded
// anyway then).
func usesPatterns(pol *policy.Policy) bool {
	return slices.ContainsFunc(pol.Routes, func(rt policy.Route) bool { return slices.Contains(rt.DLP.Outbound, dlp.TokenPatterns) })
}

// Redact returns s without the secrets the sidecar holds, in any form the
// DLP recognises, nor token-pattern matches when a route runs them. Every
// record the sidecar writes (audit events, its log, /refusals, the pages
// of refusals) goes through it.
func (p *Proxy) Redact(s string) string { return p.state.Load().redactor.String(s) }

// scrubEvent redacts every field of ev an agent could have chosen.
func (p *Proxy) scrubEvent(ev *Event) {
	rd := p.state.Load().redactor
	if !rd.Active() || ev.scrubbed {
		return
	}
	fs := [...]string{ev.Method, ev.Host, ev.Path, ev.Route, ev.Rule, ev.Reason}
	if ev.patternsPassed && ev.Host == ev.Route && ev.Reason == "" {
		// The path, method and route host went through the route's own
		// token patterns before the request was let through.
		rd.KnownStrings(fs[:])
	} else {
		rd.Strings(fs[:])
	}
	ev.Method, ev.Host, ev.Path, ev.Route, ev.Rule, ev.Reason = fs[0], fs[1], fs[2], fs[3], fs[4], fs[5]
	ev.scrubbed = true
}

// RedactingHandler returns h with every message and attribute passed
// through redact first (Proxy.Redact): the sidecar's other services log
// through it too.
func RedactingHandler(h slog.Handler, redact func(string) string) slog.Handler {
	return redactingHandler{h: h, redact: redact}
}

// refusesMatches reports whether every outbound DLP match on rt is
// refused: with block, and with supervise while no operator channel is
// wired. A request such a route let through holds no match; redact and an
// operator's approval let matches through.
func (p *Proxy) refusesMatches(rt *policy.Route) bool {
	return rt.DLP.OnMatch == "block" || rt.DLP.OnMatch == "supervise" && p.supervisor == nil
}

// redactingHandler is the proxy's slog handler: every message and
// attribute is redacted before it is written.
type redactingHandler struct {
	h      slog.Handler
	redact func(string) string
}

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.redact(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, 0, len(as))
		for _, g := range as {
			out = append(out, h.attr(g))
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		// Errors and other values print as text: redact the text.
		return slog.String(a.Key, h.redact(v.String()))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

func (h redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		out = append(out, h.attr(a))
	}
	return redactingHandler{h: h.h.WithAttrs(out), redact: h.redact}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h: h.h.WithGroup(name), redact: h.redact}
}

// redactResponse masks the secrets the sidecar holds in a response before
// the agent reads it: in header values (a header whose name holds one is
// dropped), in the body as it streams (decoded from its Content-Encoding
// first) and in trailers. An upstream that reflects the request hands the
// agent the credential injected into it otherwise.
func (p *Proxy) redactResponse(resp *http.Response, f forwarded) {
	rd := p.state.Load().redactor
	if !rd.HasSecrets() {
		return
	}
	hit := func() {
		if !f.note.redacted {
			f.note.redacted = true
			p.log.Warn("secret masked in a response", "host", f.route.Host)
		}
	}
	if redactHeader(rd, resp.Header) {
		hit()
	}
	// A switched protocol's body is the connection itself.
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	if enc := resp.Header.Values("Content-Encoding"); len(enc) > 0 {
		body, err := decodeStream(enc, resp.Body)
		if err != nil {
			_ = resp.Body.Close()
			f.note.rule = BlockResponseEncoding
			msg := fmt.Sprintf("bot-bottle egress withheld this response from %s (%s): its %s encoding cannot be decoded to check it for the bottle's secrets\n", f.route.Host, BlockResponseEncoding, strings.Join(enc, ", "))
			resp.StatusCode, resp.Status = http.StatusBadGateway, "502 Bad Gateway"
			resp.Header = http.Header{}
			resp.Header.Set("Content-Type", "text/plain; charset=utf-8")
			resp.Header.Set(BlockHeader, BlockResponseEncoding)
			resp.Header.Set("Content-Length", strconv.Itoa(len(msg)))
			resp.ContentLength = int64(len(msg))
			resp.Body = io.NopCloser(strings.NewReader(msg))
			return
		}
		resp.Body = body
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
	}
	resp.Body = &trailerRedactor{ReadCloser: rd.Reader(resp.Body, maybeText(resp.Header.Get("Content-Type")), hit), rd: rd, resp: resp, hit: hit}
}

// maybeText reports whether a body of this Content-Type may be text, in
// which secrets can be escaped (percent, JSON): all but the types known
// to be binary. Cheaper than textual, on every response.
func maybeText(ct string) bool {
	ct = strings.ToLower(ct)
	for _, bin := range []string{"image/", "audio/", "video/", "font/", "application/octet-stream", "application/zip", "application/gzip",
		"application/x-tar", "application/pdf", "application/wasm", "application/vnd.oci", "application/vnd.docker", "application/x-git"} {
		if strings.HasPrefix(ct, bin) {
			return false
		}
	}
	return true
}

// redactHeader masks the secrets in h's values and drops the headers
// whose names hold one. It reports whether it found any.
func redactHeader(rd *dlp.Redactor, h http.Header) bool {
	found := false
	for name, vs := range h {
		if rd.Known(name) != name {
			delete(h, name)
			found = true
			continue
		}
		for i, v := range vs {
			if r := rd.Known(v); r != v {
				vs[i] = r
				found = true
			}
		}
	}
	return found
}

// trailerRedactor redacts the response's trailers once the body ends,
// which is when they have arrived.
type trailerRedactor struct {
	io.ReadCloser
	rd   *dlp.Redactor
	resp *http.Response
	hit  func()
	done bool
}

func (t *trailerRedactor) Read(b []byte) (int, error) {
	n, err := t.ReadCloser.Read(b)
	if err != nil && !t.done {
		t.done = true
		if redactHeader(t.rd, t.resp.Trailer) {
			t.hit()
		}
	}
	return n, err
}

// decodeStream decodes a body of the given Content-Encoding values as it
// streams.
func decodeStream(values []string, body io.ReadCloser) (io.ReadCloser, error) {
	var encs []string
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.ToLower(strings.TrimSpace(e)); e != "" && e != "identity" {
				encs = append(encs, e)
			}
		}
	}
	var rd io.Reader = body
	for _, enc := range slices.Backward(encs) {
		var err error
		switch enc {
		case "gzip", "x-gzip":
			rd, err = gzip.NewReader(rd)
		case "deflate":
			rd = deflateReader(rd)
		case "br":
			rd = brotli.NewReader(rd)
		case "zstd":
			var zr *zstd.Decoder
			if zr, err = zstd.NewReader(rd, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecodedBody)); err == nil {
				rd = zr.IOReadCloser()
			}
		default:
			err = errors.New("unknown content encoding")
		}
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", enc, err)
		}
	}
	return readCloser{Reader: rd, Closer: body}, nil
}

// deflateReader reads RFC 9110 deflate (zlib-wrapped), or raw deflate,
// which some servers send.
func deflateReader(r io.Reader) io.Reader {
	br := &peekReader{r: r}
	if zr, err := zlib.NewReader(br); err == nil {
		br.seen, br.done = nil, true
		return zr
	}
	return flate.NewReader(io.MultiReader(strings.NewReader(string(br.seen)), r))
}

// peekReader keeps what was read through it, so a failed header check
// can be replayed.
type peekReader struct {
	r    io.Reader
	seen []byte
	done bool
}

func (p *peekReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if !p.done {
		p.seen = append(p.seen, b[:n]...)
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}
