package egress

import (
	"bytes"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// Block codes of the request-smuggling rules.
const (
	// BlockOverride: a header or parameter asks the upstream for another
	// method or path than the one the route's matches checked.
	BlockOverride = "method-path-override"
	// BlockNonStandardMethod: a method outside the standard set that no
	// match of the route names.
	BlockNonStandardMethod = "nonstandard-method"
	// BlockUpgrade: an upgrade to a protocol other than WebSocket, whose
	// bytes the proxy could not read.
	BlockUpgrade = "upgrade-not-allowed"
)

// standardMethods pass on every route. Git smart HTTP needs only GET and
// POST; WebDAV and other methods pass only where a match names them.
var standardMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// overrideHeaders make frameworks (Rails, Laravel, Symfony, ASP.NET,
// Express's method-override, Spring's HiddenHttpMethodFilter) or gateways
// (IIS URL Rewrite, Envoy, nginx setups) act on another method or path than
// the request line's. Names are lowercase with "-"; "_" is compared as
// "-" too, since CGI and WSGI servers merge them.
var overrideHeaders = map[string]bool{
	"x-http-method-override": true, "x-http-method": true, "x-method-override": true,
	"x-original-method": true, "x-forwarded-method": true,
	"x-original-url": true, "x-original-uri": true, "x-rewrite-url": true, "x-override-url": true,
	"x-forwarded-prefix": true, "x-forwarded-path": true, "x-forwarded-uri": true,
	"x-envoy-original-path": true, "x-envoy-original-url": true,
}

// overrideParams are query parameters with the same effect.
var overrideParams = []string{"_method", "x-http-method-override", "_httpmethod"}

// checkSmuggling refuses what would make the upstream act on another
// request than the one the policy decided: a method token no rule
// expects, an override of the method or path on a route whose matches
// restrict them, and an upgrade to a protocol the proxy cannot scan.
func checkSmuggling(rt *policy.Route, r *http.Request, query url.Values) *refusal {
	if rf := checkMethod(rt, r.Method); rf != nil {
		return rf
	}
	if rf := checkUpgrade(r.Header); rf != nil {
		return rf
	}
	if len(rt.Matches) == 0 {
		return nil
	}
	for name := range r.Header {
		if overrideHeaders[mergedName(name)] {
			return refuse(BlockOverride, "the %s header would let the upstream use another method or path than route %s checked; drop it", name, rt.Host)
		}
	}
	for k := range query {
		if slices.Contains(overrideParams, strings.ToLower(k)) {
			return refuse(BlockOverride, "the %s parameter would let the upstream use another method than route %s checked; drop it", k, rt.Host)
		}
	}
	return nil
}

// checkMethod lets the standard methods through, and another only where a
// match of the route names it exactly. CONNECT never passes inside a
// tunnel: over HTTP/2 it would open a tunnel of its own (RFC 8441).
func checkMethod(rt *policy.Route, m string) *refusal {
	if slices.Contains(standardMethods, m) {
		return nil
	}
	if m == http.MethodConnect {
		return refuse(BlockNonStandardMethod, "CONNECT inside a tunnel is never allowed")
	}
	for _, mt := range rt.Matches {
		if slices.Contains(mt.Methods, m) {
			return nil
		}
	}
	// Security: the method is not quoted; it is a channel too.
	return refuse(BlockNonStandardMethod, "only GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS pass, or a method a match of route %s names", rt.Host)
}

// checkUpgrade lets only a WebSocket upgrade through: the proxy reads its
// frames, and would be blind to any other protocol.
func checkUpgrade(h http.Header) *refusal {
	up := h.Values("Upgrade")
	if len(up) == 0 || !httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade") {
		// Without "Connection: upgrade" the proxy drops Upgrade as a
		// hop-by-hop header.
		return nil
	}
	if len(up) != 1 || !strings.EqualFold(strings.TrimSpace(up[0]), "websocket") {
		return refuse(BlockUpgrade, "only an upgrade to websocket is allowed")
	}
	return nil
}

// sanitize makes the outgoing request say only what the policy decided:
// the canonical path, no request trailers and no WebSocket extension.
//
// Security: trailers are dropped, not scanned: they arrive after the body,
// when the headers have been forwarded and decided on, and no client this
// proxy serves needs them (gRPC sends trailers only in responses).
// Extensions are refused by removing the offer, so that frames stay
// readable: permessage-deflate would hide their payloads.
func sanitize(out *http.Request) {
	out.Trailer = nil
	out.Header.Del("Trailer")
	out.Header.Del("Sec-WebSocket-Extensions")
	setCanonicalPath(out.URL)
}

// stripCredentials removes from h, on a route that injects its credential
// in header, every value the agent sent that could stand in for it: in
// header, Authorization or Proxy-Authorization, in any case and with "_"
// for "-" (CGI and WSGI servers merge X_Api_Key with X-Api-Key).
//
// Security: the reverse proxy has already removed the headers that the
// agent's Connection header names, and sanitize the trailers, so that what
// remains is every place the agent could put its own credential.
func stripCredentials(h http.Header, header string) {
	for name := range h {
		if isCredentialHeader(name, header) {
			delete(h, name)
		}
	}
}

// isCredentialHeader reports whether name, as the agent sent it, is a
// credential header of a route injecting in header ("" for a route
// without auth: Authorization and Proxy-Authorization only).
func isCredentialHeader(name, header string) bool {
	n := mergedName(name)
	return n == "authorization" || n == "proxy-authorization" || (header != "" && n == mergedName(header))
}

// mergedName is a header name as the servers that merge the most names
// read it: lowercase, with "_" for "-".
func mergedName(name string) string { return strings.ReplaceAll(strings.ToLower(name), "_", "-") }

// setCanonicalPath replaces u's path by its canonical form, the one the
// policy matched. A path CleanPath refuses is left alone: decide has
// refused its request already.
func setCanonicalPath(u *url.URL) {
	clean, ok := policy.CleanPath(u.EscapedPath())
	if !ok {
		return
	}
	p, err := url.PathUnescape(clean)
	if err != nil {
		return
	}
	u.Path, u.RawPath = p, clean
}

// checkFormOverride refuses, on a route whose matches restrict it, a form
// POST whose body sets _method (Rails, Laravel, Symfony and Express read
// it as the real method). It reads the body (bounded, like outbound DLP)
// and puts it back.
func checkFormOverride(rt *policy.Route, r *http.Request) *refusal {
	if len(rt.Matches) == 0 || r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
		return nil
	}
	raw, decoded, rf := readBody(r)
	if rf != nil {
		return rf
	}
	resetBody(r, raw)
	lower := bytes.ToLower(decoded)
	if mt == "multipart/form-data" {
		if bytes.Contains(lower, []byte(`name="_method"`)) || bytes.Contains(lower, []byte(`name=_method`)) {
			return refuse(BlockOverride, "the form's _method field would let the upstream use another method than route %s checked; drop it", rt.Host)
		}
		return nil
	}
	q, _ := url.ParseQuery(string(decoded))
	for k := range q {
		if slices.Contains(overrideParams, strings.ToLower(k)) {
			return refuse(BlockOverride, "the form's %s field would let the upstream use another method than route %s checked; drop it", k, rt.Host)
		}
	}
	return nil
}
