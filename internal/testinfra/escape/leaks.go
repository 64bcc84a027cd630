package escape

import (
	"encoding/base64"
	"strings"
	"testing"
)

// tokenForms are the forms of Token a record or a response must not hold.
func tokenForms() []string {
	return []string{Token, base64.StdEncoding.EncodeToString([]byte(Token)), base64.StdEncoding.EncodeToString([]byte("Bearer " + Token))}
}

func holdsToken(s string) bool {
	low := strings.ToLower(s)
	for _, f := range tokenForms() {
		if strings.Contains(low, strings.ToLower(f)) {
			return true
		}
	}
	return false
}

// runCredentialLeaks tries to get the injected credential back (an
// upstream that reflects it, plain http:// where it would travel in
// clear) and sends the token in host labels and paths, which the records
// (audit log, /refusals) must not hold.
func (h *Harness) runCredentialLeaks(t *testing.T, slug string) {
	t.Run("an upstream reflecting the injected credential", func(t *testing.T) {
		out, code := h.sh(t, slug, "curl -sS -i --max-time 20 https://"+AllowedHost+"/allowed/echo")
		if code != 0 || !strings.Contains(out, `"headers"`) {
			t.Fatalf("the echo endpoint did not answer (exit %d): %s", code, out)
		}
		got := httpsHits(t, h, "/allowed/echo")
		if len(got) != 1 || got[0].Headers.Get("Authorization") != "Bearer "+Token {
			t.Fatalf("the upstream did not get the credential to reflect; the check proves nothing: %+v", got)
		}
		if holdsToken(out) || !strings.Contains(out, "[REDACTED]") {
			t.Errorf("the reflected credential reached the bottle:\n%s", out)
		}
	})
	t.Run("plain http to the credential's host", func(t *testing.T) {
		out, _ := h.sh(t, slug, "curl -sS -i --max-time 20 http://"+AllowedHost+"/forbidden/plain")
		if !strings.Contains(out, "403") || !strings.Contains(strings.ToLower(out), "plain-http-credential") {
			t.Errorf("plain http to %s was not refused: %s", AllowedHost, out)
		}
		if got := httpsHits(t, h, "/forbidden/plain"); len(got) > 0 {
			t.Errorf("the upstream got it: %+v", got)
		}
	})
	t.Run("secret in a host label or a path is not recorded", func(t *testing.T) {
		// The suite's "refusals are audited" checks the audit log for the
		// same probes once the bottle stops.
		b64 := base64.StdEncoding.EncodeToString([]byte(Token))
		script := "curl -sS --max-time 10 -o /dev/null https://" + Token + "." + UnlistedHost + "/; " +
			"curl -sS --max-time 10 -o /dev/null http://" + UnlistedHost + "/forbidden/" + Token + "; " +
			"curl -sS --max-time 10 -o /dev/null http://" + UnlistedHost + "/forbidden/" + b64 + "; " +
			"curl -sS --max-time 10 -o /dev/null -d x=1 https://" + AllowedHost + "/forbidden/" + Token + "; " +
			"curl -sS --max-time 10 http://_egress.local/refusals"
		out, _ := h.sh(t, slug, script)
		if !strings.Contains(out, "host-not-allowed") || !strings.Contains(out, "[REDACTED]") {
			t.Fatalf("/refusals does not list the probes; the check proves nothing:\n%s", out)
		}
		if holdsToken(out) {
			t.Errorf("/refusals holds the token:\n%s", out)
		}
	})
}
