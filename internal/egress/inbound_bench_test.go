package egress

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// BenchmarkInboundBinary1MiB is what inbound DLP costs a 1 MiB binary
// download (bench/egress's /big): the sniffed start and each piece's
// check, against reading the same body bare.
func BenchmarkInboundBinary1MiB(b *testing.B) {
	body := make([]byte, 1<<20)
	if _, err := rand.Read(body); err != nil {
		b.Fatal(err)
	}
	p := &Proxy{log: slog.New(slog.DiscardHandler)}
	rt := &policy.Route{Host: "x.test", DLP: policy.DLP{Inbound: []string{dlp.NaiveInjection}}}
	ctx := context.WithValue(context.Background(), routeKey{}, forwarded{route: rt, note: &note{}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://x.test/big", nil)
	buf := make([]byte, 32<<10)
	for _, scanned := range []bool{false, true} {
		b.Run("scanned="+strconv.FormatBool(scanned), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/octet-stream"}},
					ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body)), Request: req}
				if scanned {
					if err := p.modifyResponse(resp); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
