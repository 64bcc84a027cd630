package egress

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/corpus"
)

// BenchmarkBodyScan measures outbound DLP on the request bodies agent
// CLIs send (a POST with known secrets and token patterns on), in bytes a
// second on one core: the cost the scan adds to a model request. bench/
// egress runs the same corpora through the whole proxy.
func BenchmarkBodyScan(b *testing.B) {
	pol, err := policy.Parse([]byte(dlpPolicy))
	if err != nil {
		b.Fatal(err)
	}
	st, err := newState(pol, map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)})
	if err != nil {
		b.Fatal(err)
	}
	dlp.Warm()
	p := &Proxy{}
	t := target{host: "api.test", port: "443", tls: true}
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"base64-200KB", corpus.Base64(200 << 10)},
		{"model-json-300KB", corpus.ModelJSON(300 << 10)},
		{"source-256KB", corpus.Source(256 << 10)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				r, _ := http.NewRequest("POST", "https://api.test/v1/messages", io.NopCloser(bytes.NewReader(c.body)))
				r.Host = "api.test"
				r.ContentLength = int64(len(c.body))
				r.Header.Set("Content-Type", "application/json")
				rt, _, rf := decide(st.pol, t, r)
				if rf != nil {
					b.Fatal(rf.reason)
				}
				if rf := p.outbound(st, rt, t, r); rf != nil {
					b.Fatal(rf.reason)
				}
			}
		})
	}
}
