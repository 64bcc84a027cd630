package egress

import (
	"net/http"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// useGrant counts a use of the operator's grant when only a grant
// allows the request, and refuses it when the grant no longer holds
// (used up or expired between the policy's load and now).
func (p *Proxy) useGrant(rt *policy.Route, path string, r *http.Request) *refusal {
	ok, id := rt.AllowedBy(r.Method, path, r.Header)
	if !ok || id == "" {
		return nil
	}
	if p.grantUse == nil || !p.grantUse(id) {
		return refuse(BlockPathNotAllowed, "%s %s was allowed by the operator's grant %s, which is used up or expired", r.Method, path, id)
	}
	return nil
}

// hint is how to ask for what a refusal with code refused, or "".
func (p *Proxy) hint(code, method, host, path string) string {
	if !p.askHint {
		return ""
	}
	return supervise.Hint(code, method, host, path)
}
