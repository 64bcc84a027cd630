package supervise

import (
	"encoding/json"
	"net"
	"strings"
)

// Refusal codes a route change can lift (the egress block codes).
const (
	ruleHostNotAllowed   = "host-not-allowed"
	rulePathNotAllowed   = "path-not-allowed"
	ruleMethodNotAllowed = "method-not-allowed"
)

// Suggest returns the request_route arguments that would allow a request
// refused with rule, or nil when no route change can (an IP literal, DNS
// over HTTPS, a DLP match, a git push). It asks for the least that
// allows the request: its method on its exact path.
func Suggest(rule, method, host, path string) *RouteRequest {
	switch rule {
	case ruleHostNotAllowed, rulePathNotAllowed, ruleMethodNotAllowed:
	default:
		return nil
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || net.ParseIP(host) != nil {
		return nil
	}
	req := &RouteRequest{Host: host}
	if path != "" {
		req.Paths = []PathSpec{{Type: "exact", Value: path}}
	}
	// A tunnel refused at CONNECT never showed its requests: ask for the
	// host, which the operator narrows.
	if method != "" && !strings.EqualFold(method, "CONNECT") {
		req.Methods = []string{strings.ToUpper(method)}
	}
	return req
}

// Hint is the sentence the egress proxy adds to a refusal a route change
// could lift: how to ask for it.
func Hint(rule, method, host, path string) string {
	req := Suggest(rule, method, host, path)
	if req == nil {
		return ""
	}
	req.Reason = "WHY YOU NEED IT"
	args, err := json.Marshal(req)
	if err != nil {
		return ""
	}
	return "To ask the operator to allow it, call the MCP tool request_route of the bot-bottle server ($BOT_BOTTLE_MCP_URL) with " + string(args)
}
