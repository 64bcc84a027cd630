package manifest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.yaml.in/yaml/v3"
)

// auth decodes a route's auth: {scheme, token_ref} for the Authorization
// header, or {header, token_ref} for a header that carries the bare
// secret (x-api-key, api-key).
func (r *reader) auth(v *yaml.Node) *Auth {
	a := &Auth{}
	var headerNode, schemeNode *yaml.Node
	refSeen := false
	r.mapping(v, fields{
		where: "egress route auth",
		list: []field{
			{"header", func(_, v *yaml.Node) {
				headerNode = v
				s, ok := r.str(v, "auth.header")
				if !ok {
					return
				}
				h, err := CheckAuthHeader(s)
				if err != nil {
					r.errorf(v, "auth.header %v", err)
					return
				}
				if h != AuthHeaderDefault {
					a.Header = h
				}
			}},
			{"scheme", func(_, v *yaml.Node) {
				schemeNode = v
				s, ok := r.str(v, "auth.scheme")
				if ok && s != AuthSchemeBearer && s != AuthSchemeToken {
					r.errorf(v, "auth.scheme %q is not a scheme; allowed: Bearer, token", s)
					return
				}
				a.Scheme = s
			}},
			{"token_ref", func(_, v *yaml.Node) {
				refSeen = true
				s, ok := r.str(v, "auth.token_ref")
				if ok {
					if err := checkVarName(s); err != nil {
						r.errorf(v, "auth.token_ref %v", err)
						return
					}
				}
				a.TokenRef, a.At = s, r.pos(v)
			}},
		},
	})
	if isNull(v) {
		return nil
	}
	if v.Kind == yaml.MappingNode {
		switch {
		case a.Header != "" && schemeNode != nil:
			r.errorf(schemeNode, "auth.scheme applies to the Authorization header only; drop it to send the bare secret in %s", a.Header)
		case a.Header == "" && headerNode == nil && schemeNode == nil,
			headerNode != nil && schemeNode == nil && isAuthorization(headerNode.Value):
			r.errorf(v, "auth needs scheme: Bearer or token (Authorization: <scheme> <secret>), or header: NAME to send the bare secret in another header")
		}
		if !refSeen {
			r.errorf(v, "auth needs token_ref: the host environment variable holding the credential")
		}
	}
	return a
}

// checkRoleAuth checks that a route's role and auth agree: Claude Code
// sends an OAuth token as Authorization: Bearer and an API key in
// x-api-key, and the proxy replaces only the header its auth names.
func (r *reader) checkRoleAuth(v *yaml.Node, rt Route) {
	switch {
	case rt.Role == RoleAnthropicAPIKey && (rt.Auth == nil || rt.Auth.Header != AuthHeaderAPIKey):
		r.errorf(v, "egress route role %s needs auth: {header: x-api-key, token_ref: VAR}: Claude Code sends its API key in x-api-key", RoleAnthropicAPIKey)
	case rt.Role == RoleClaudeCodeOAuth && rt.Auth != nil && rt.Auth.Header != "":
		r.errorf(v, "egress route role %s sends its token as Authorization: Bearer; drop auth.header, or use role %s for an API key", RoleClaudeCodeOAuth, RoleAnthropicAPIKey)
	}
}

// isAuthorization reports whether name is Authorization, in any case.
func isAuthorization(name string) bool { return strings.EqualFold(name, AuthHeaderDefault) }

// authHeaderRefused maps the headers, lowercase with "_" read as "-", that
// can never carry an injected credential to the reason why.
var authHeaderRefused = map[string]string{
	"host":              "it names the upstream",
	"connection":        "it is hop-by-hop",
	"keep-alive":        "it is hop-by-hop",
	"upgrade":           "it is hop-by-hop",
	"te":                "it is hop-by-hop",
	"trailer":           "it is hop-by-hop",
	"http2-settings":    "it is hop-by-hop",
	"transfer-encoding": "it frames the request",
	"expect":            "it frames the request",
	"accept-encoding":   "the proxy rewrites it",
	"cookie":            "it carries the agent's cookies, which the proxy would have to strip (cookie credentials are not supported)",
	"set-cookie":        "it is a response header",
}

// authHeaderRefusedPrefixes are families of headers refused like
// authHeaderRefused.
var authHeaderRefusedPrefixes = []struct{ prefix, why string }{
	{"proxy-", "it is for the hop to the proxy, never forwarded"},
	{"content-", "it describes the request body"},
	{"sec-websocket-", "it belongs to the WebSocket handshake"},
}

// CheckAuthHeader validates the name of a header a route injects its
// credential in, and returns it in canonical form (x-api-key becomes
// X-Api-Key). It refuses what is not an HTTP token and the headers that
// frame or route the request, are hop-by-hop, or that the proxy manages.
// Authorization is valid. The sidecar checks a compiled policy with it too.
func CheckAuthHeader(name string) (string, error) {
	if name == "" {
		return "", errors.New("is empty; name the header the API reads its key from, such as x-api-key")
	}
	if !tokenRE.MatchString(name) {
		return "", fmt.Errorf("%q is not a valid HTTP header name", name)
	}
	key := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	why, refused := authHeaderRefused[key]
	for _, p := range authHeaderRefusedPrefixes {
		if !refused && strings.HasPrefix(key, p.prefix) {
			why, refused = p.why, true
		}
	}
	if refused {
		return "", fmt.Errorf("%q cannot carry a credential: %s; name the header the API reads its key from, such as x-api-key", name, why)
	}
	return http.CanonicalHeaderKey(name), nil
}
