package egress

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// BenchmarkDecideAndScan measures the per-request policy and outbound DLP
// work for a small GET with typical headers: the proxy's own cost on top
// of TLS and HTTP.
func BenchmarkDecideAndScan(b *testing.B) {
	pol, err := policy.Parse([]byte(dlpPolicy))
	if err != nil {
		b.Fatal(err)
	}
	st, err := newState(pol, map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)})
	if err != nil {
		b.Fatal(err)
	}
	p := &Proxy{}
	t := target{host: "api.test", port: "443", tls: true}
	b.ReportAllocs()
	for b.Loop() {
		r, _ := http.NewRequest("GET", "https://api.test/v1/messages?beta=true", nil)
		r.Host = "api.test"
		r.Header.Set("User-Agent", "claude-cli/2.1.172 (external, cli)")
		r.Header.Set("Accept", "application/json")
		r.Header.Set("Anthropic-Version", "2023-06-01")
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Request-Id", strings.Repeat("ab12", 8))
		rt, _, rf := decide(st.pol, t, r)
		if rf != nil {
			b.Fatal(rf.reason)
		}
		if rf := p.outbound(st, rt, t, r); rf != nil {
			b.Fatal(rf.reason)
		}
	}
}
