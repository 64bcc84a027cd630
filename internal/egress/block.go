package egress

import (
	"fmt"
	"net/http"
)

// Block codes name the rule that refused a request. They are stable: the
// agent, tests and the audit log match on them.
const (
	BlockHostNotAllowed   = "host-not-allowed"
	BlockIPLiteral        = "ip-literal"
	BlockDoH              = "doh"
	BlockPathNotAllowed   = "path-not-allowed"
	BlockMethodNotAllowed = "method-not-allowed"
	BlockBadPath          = "bad-path"
	BlockHostMismatch     = "host-mismatch"
	BlockGitPush          = "git-push-blocked"
	BlockGitFetch         = "git-fetch-blocked"
	BlockDLPOutbound      = "dlp-outbound"
	BlockBadRequest       = "bad-request"
)

// BlockHeader carries the block code on a refusal.
const BlockHeader = "X-Bot-Bottle-Block"

// refusal is a request the policy refused.
type refusal struct {
	code   string
	reason string
	// hint, when set, says how to ask for what was refused; it goes to
	// the agent's page only, not to the audit.
	hint string
}

func refuse(code, format string, args ...any) *refusal {
	return &refusal{code: code, reason: fmt.Sprintf(format, args...)}
}

func (rf *refusal) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set(BlockHeader, rf.code)
	w.WriteHeader(http.StatusForbidden)
	//nolint:gosec // G705: text/plain with nosniff; the reason is ours, not HTML.
	fmt.Fprintf(w, "bot-bottle egress refused this request (%s): %s\n", rf.code, rf.reason)
	if rf.hint != "" {
		fmt.Fprintf(w, "%s\n", rf.hint) //nolint:gosec // G705: text/plain with nosniff, JSON-quoted request parts.
	}
}
