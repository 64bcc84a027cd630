package egress

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// dohHosts are well-known DNS-over-HTTPS resolvers, refused even when a
// route names them: DNS over HTTPS would tunnel lookups past the policy.
var dohHosts = map[string]bool{
	"dns.google": true, "dns.google.com": true, "8888.google": true,
	"cloudflare-dns.com": true, "mozilla.cloudflare-dns.com": true, "one.one.one.one": true,
	"1dot1dot1dot1.cloudflare-dns.com": true, "security.cloudflare-dns.com": true, "family.cloudflare-dns.com": true,
	"dns.quad9.net": true, "dns9.quad9.net": true, "dns10.quad9.net": true, "dns11.quad9.net": true,
	"doh.opendns.com": true, "dns.adguard.com": true, "dns.adguard-dns.com": true, "dns.nextdns.io": true,
	"doh.cleanbrowsing.org": true, "dns.alidns.com": true, "doh.pub": true, "doh.dns.sb": true,
	"dns.controld.com": true, "doh.mullvad.net": true, "dns.mullvad.net": true,
}

var commonMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// normHost lowercases a host and drops a trailing dot.
func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// checkHost refuses a target host before any connection is made: IP
// literals, DoH resolvers and hosts without a route.
func checkHost(pol *policy.Policy, host string) (*policy.Route, *refusal) {
	h := normHost(host)
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil || strings.Contains(h, ":") {
		return nil, refuse(BlockIPLiteral, "%s is an IP address; only named hosts on the bottle's egress.routes are allowed", host)
	}
	if dohHosts[h] {
		return nil, refuse(BlockDoH, "%s is a DNS-over-HTTPS resolver; DNS over HTTPS is never allowed", h)
	}
	rt, ok := pol.Lookup(h)
	if !ok {
		return nil, refuse(BlockHostNotAllowed, "%s is not in the bottle's egress.routes allowlist", h)
	}
	return rt, nil
}

// target is where the agent asked to go: the CONNECT authority, or the
// authority of an absolute-form request.
type target struct {
	host string
	port string
	// tls is set for an intercepted CONNECT tunnel.
	tls bool
}

// decide applies the policy to one request inside a tunnel (or an
// absolute-form request). It returns the route that serves it and the
// cleaned path, or a refusal.
func decide(pol *policy.Policy, t target, r *http.Request) (*policy.Route, string, *refusal) {
	// Security: the CONNECT host, the SNI, the Host header and any
	// absolute-form URI must all name the same host; otherwise an allowed
	// tunnel could front a request for another host.
	if t.tls && r.TLS != nil && r.TLS.ServerName != "" && normHost(r.TLS.ServerName) != normHost(t.host) {
		return nil, "", refuse(BlockHostMismatch, "TLS server name %q does not match the tunnel's host %q", r.TLS.ServerName, t.host)
	}
	if h, p := splitHostPort(r.Host); normHost(h) != normHost(t.host) || (p != "" && p != t.port) {
		return nil, "", refuse(BlockHostMismatch, "Host header %q does not match the requested host %q", r.Host, net.JoinHostPort(t.host, t.port))
	}
	if r.URL.IsAbs() {
		if h, p := splitHostPort(r.URL.Host); normHost(h) != normHost(t.host) || (p != "" && p != t.port) {
			return nil, "", refuse(BlockHostMismatch, "request URI host %q does not match the requested host %q", r.URL.Host, t.host)
		}
	}
	rt, rf := checkHost(pol, t.host)
	if rf != nil {
		return nil, "", rf
	}
	path, ok := policy.CleanPath(r.URL.EscapedPath())
	if !ok {
		return nil, "", refuse(BlockBadPath, "the request path is ambiguous (encoded slashes, dot segments or control characters)")
	}
	query := r.URL.Query()
	if rf := checkDoH(r, path, query); rf != nil {
		return nil, "", rf
	}
	if rf := checkGit(rt, path, query); rf != nil {
		return nil, "", rf
	}
	if rf := checkSmuggling(rt, r, query); rf != nil {
		return nil, "", rf
	}
	if !rt.Allows(r.Method, path, r.Header) {
		if slices.ContainsFunc(commonMethods, func(m string) bool { return rt.Allows(m, path, r.Header) }) {
			return nil, "", refuse(BlockMethodNotAllowed, "%s %s is not allowed by the matches of route %s", r.Method, path, rt.Host)
		}
		return nil, "", refuse(BlockPathNotAllowed, "%s %s is not allowed by the matches of route %s", r.Method, path, rt.Host)
	}
	return rt, path, nil
}

func checkDoH(r *http.Request, path string, query url.Values) *refusal {
	if path == "/dns-query" || strings.HasSuffix(path, "/dns-query") || query.Has("dns") {
		return refuse(BlockDoH, "this looks like a DNS-over-HTTPS query; DNS over HTTPS is never allowed")
	}
	for _, v := range append(r.Header.Values("Content-Type"), r.Header.Values("Accept")...) {
		for part := range strings.SplitSeq(v, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/dns-message" {
				return refuse(BlockDoH, "application/dns-message is DNS over HTTPS, which is never allowed")
			}
		}
	}
	return nil
}

// checkGit refuses git pushes over HTTP always, and fetches unless the
// route allows them: declared repositories go through git-gate. A service
// name anywhere in the path counts, not only as the last segment: git
// servers route it in more ways than git http-backend does.
func checkGit(rt *policy.Route, path string, query url.Values) *refusal {
	service := query.Get("service")
	switch {
	case strings.Contains(path, "git-receive-pack") || service == "git-receive-pack":
		return refuse(BlockGitPush, "git push over HTTP is never allowed; declare the repository under git-gate.repos and push through the gate")
	case (strings.Contains(path, "git-upload-pack") || service == "git-upload-pack") && !rt.GitFetch:
		return refuse(BlockGitFetch, "git fetch from %s needs git: {fetch: true} on its route", rt.Host)
	}
	return nil
}

func splitHostPort(hostport string) (host, port string) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, ""
	}
	return h, p
}

// absoluteTarget returns the target of an absolute-form http:// request.
func absoluteTarget(u *url.URL) (target, bool) {
	if u.Scheme != "http" || u.Host == "" {
		return target{}, false
	}
	h, p := splitHostPort(u.Host)
	if p == "" {
		p = "80"
	}
	return target{host: h, port: p}, true
}
