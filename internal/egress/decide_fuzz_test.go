package egress

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// FuzzDecide throws arbitrary requests at the decision: it must never
// panic, and anything it allows must really be allowed by the policy.
func FuzzDecide(f *testing.F) {
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("api.test", "443", "api.test", "GET", "/v1/models?x=1", "Accept", "*/*", "api.test")
	f.Add("api.test", "443", "api.test:443", "POST", "/v1/../admin", "Content-Type", "application/dns-message", "")
	f.Add("git.test", "443", "git.test", "GET", "/r.git/info/refs?service=git-receive-pack", "", "", "git.test")
	f.Add("open.test", "80", "OPEN.TEST.", "DELETE", "/%2e%2e/x", "X", "y", "")
	for _, p := range []string{"/v1/..%3B/admin", "/v1/%2e%2e%3b/admin", "/v1/%c0%ae%c0%ae/admin", "/v1/%ef%bc%8e%ef%bc%8e/admin",
		"/v1/\uff0e\uff0e/admin", "/v1/x\u2215..\u2215admin", "/v1/..%20/admin", "//v1//a/../b", "/v1/a;x/../../admin", "/v1/%252e%252e/x"} {
		f.Add("api.test", "443", "api.test", "GET", p, "Accept", "*/*", "api.test")
		f.Add("api.test", "443", "api.test", "GET", p, "X-Original-URL", "/admin", "api.test")
	}
	f.Fuzz(func(t *testing.T, host, port, hostHeader, method, rawURL, hname, hval, sni string) {
		u, err := url.ParseRequestURI(rawURL)
		if err != nil {
			return
		}
		r := &http.Request{Method: method, URL: u, Host: hostHeader, Header: http.Header{}}
		if hname != "" {
			r.Header.Add(hname, hval)
		}
		tgt := target{host: normHost(host), port: port, tls: sni != ""}
		if tgt.tls {
			r.TLS = &tls.ConnectionState{ServerName: sni}
		}
		rt, path, rf := decide(pol, tgt, r)
		if rf != nil {
			if rt != nil || rf.code == "" {
				t.Fatalf("refusal %+v came with route %v", rf, rt)
			}
			return
		}
		want, ok := pol.Lookup(tgt.host)
		if !ok || want != rt {
			t.Fatalf("allowed %q via route %v, but Lookup gives %v, %v", host, rt, want, ok)
		}
		if clean, ok := policy.CleanPath(path); !ok || clean != path {
			t.Fatalf("allowed a path that is not clean: %q", path)
		}
		if !rt.Allows(method, path, r.Header) {
			t.Fatalf("allowed %s %s that the route does not allow", method, path)
		}
		if strings.Contains(path, "git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
			t.Fatalf("allowed a git push: %s", rawURL)
		}
		if h, _ := splitHostPort(hostHeader); normHost(h) != rt.Host {
			t.Fatalf("allowed Host %q for route %s", hostHeader, rt.Host)
		}
		if rt.Host != "api.test" {
			return
		}
		// Security: whatever a server does to the path it is sent, it
		// stays under the route's /v1 prefix.
		fwd := &url.URL{Path: u.Path, RawPath: u.RawPath}
		setCanonicalPath(fwd)
		for _, v := range serverViews(fwd.EscapedPath()) {
			if v != "/v1" && !strings.HasPrefix(v, "/v1/") {
				t.Fatalf("allowed %q, forwarded as %q, which a server may read as %q", rawURL, fwd.EscapedPath(), v)
			}
		}
		for name := range r.Header {
			if overrideHeaders[strings.ReplaceAll(strings.ToLower(name), "_", "-")] {
				t.Fatalf("allowed the override header %s on a restricted route", name)
			}
		}
		if !slices.Contains(standardMethods, method) {
			t.Fatalf("allowed the method %q", method)
		}
	})
}

// serverViews returns the ways servers have been seen to read a path:
// percent-decoded once or twice, backslashes as slashes, overlong UTF-8
// decoded, NFKC or best-fit folded, path parameters dropped (Tomcat,
// Spring), trailing dots and spaces trimmed (Windows), then dot segments
// resolved and slashes collapsed.
func serverViews(p string) []string {
	var out []string
	once := lenientUnescape(p)
	for _, d := range []string{p, once, lenientUnescape(once)} {
		for _, fold := range []func(string) string{
			func(s string) string { return s },
			func(s string) string { return strings.ReplaceAll(s, "\\", "/") },
			func(s string) string {
				return strings.NewReplacer("\xc0\xae", ".", "\xc0\xaf", "/", "\xe0\x80\xae", ".", "\xc1\x9c", "\\").Replace(s)
			},
			norm.NFKC.String,
			bestFit,
		} {
			f := fold(d)
			out = append(out, resolve(f, false), resolve(f, true))
		}
	}
	return out
}

func bestFit(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\u2215', '\u2044', '\u29f8', '\u2571', '\u27cb', '\uff0f':
			r = '/'
		case '\u00a5', '\u20a9', '\u2216', '\u29f9', '\u2572', '\u27cd', '\uff3c':
			r = '/'
		case '\u3002', '\uff61', '\ufe12', '\u2219', '\u22c5', '\uff0e':
			r = '.'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// resolve drops path parameters and (windows) trailing dots and spaces of
// each segment, then resolves dot segments as a lenient server does.
func resolve(p string, windows bool) string {
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		s, _, _ = strings.Cut(s, ";")
		if windows && s != "." && s != ".." {
			if t := strings.TrimRight(s, ". "); t != s {
				if t == "" && strings.HasPrefix(s, "..") {
					s = ".."
				} else {
					s = t
				}
			}
		}
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	return "/" + strings.Join(segs, "/")
}

// lenientUnescape decodes every well-formed escape and keeps the rest.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
