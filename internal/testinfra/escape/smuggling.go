package escape

import (
	"context"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// smugglingMarker is in every path and header the smuggling probes send,
// so that the upstream's record shows whether any of them arrived.
const smugglingMarker = "smuggled-admin"

// runSmuggling tries to leave the route's path allowlist (/allowed and
// /forbidden) of AllowedHost from inside the bottle, with real curl and
// --path-as-is: dot segments a server folds (an encoded path parameter,
// overlong UTF-8, full-width dots), headers and methods that make a
// server act on another path. Each must be refused by a smuggling rule
// of the proxy, not merely fail, and none may reach the upstream.
func (h *Harness) runSmuggling(t *testing.T, slug string) {
	curl := "curl -sS --max-time 10 --path-as-is -o /dev/null -D - "
	base := "https://" + AllowedHost
	for _, c := range []struct{ name, args string }{
		{"path smuggling: an encoded parameter after dots (..%3B)", base + "/allowed/..%3B/" + smugglingMarker},
		{"path smuggling: encoded dots and parameter (%2e%2e%3b)", base + "/allowed/%2e%2e%3b/" + smugglingMarker},
		{"path smuggling: overlong UTF-8 dots", base + "/allowed/%c0%ae%c0%ae/" + smugglingMarker},
		{"path smuggling: full-width dots", base + "/allowed/%ef%bc%8e%ef%bc%8e/" + smugglingMarker},
		{"path smuggling: an X-Original-URL header", "-H 'X-Original-URL: /" + smugglingMarker + "' " + base + "/allowed/x"},
		{"path smuggling: an X-HTTP-Method-Override header", "-H 'X-HTTP-Method-Override: DELETE' " + base + "/allowed/" + smugglingMarker},
		{"path smuggling: a non-standard method", "-X TRACE " + base + "/allowed/" + smugglingMarker},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, _ := h.sh(t, slug, curl+c.args)
			if !strings.Contains(out, " 403") || !hasAnyCode(out, "bad-path", "method-path-override", "nonstandard-method") {
				t.Errorf("not refused by a smuggling rule:\n%s", out)
			}
		})
	}
	t.Run("path smuggling: nothing reached the upstream", func(t *testing.T) {
		report, _, err := hits.Fetch(context.Background(), h.Internet.Control)
		if err != nil {
			t.Fatal(err)
		}
		for _, hit := range report {
			var seen strings.Builder
			seen.WriteString(hit.Path)
			for _, vs := range hit.Headers {
				seen.WriteString("\n" + strings.Join(vs, "\n"))
			}
			if strings.Contains(seen.String(), smugglingMarker) {
				t.Errorf("a smuggling probe reached the upstream: %+v", hit)
			}
		}
	})
}

// hasAnyCode reports whether curl's headers name one of the block codes.
func hasAnyCode(headers string, codes ...string) bool {
	for line := range strings.SplitSeq(strings.ToLower(headers), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "x-bot-bottle-block" {
			continue
		}
		for _, c := range codes {
			if strings.TrimSpace(v) == c {
				return true
			}
		}
	}
	return false
}
