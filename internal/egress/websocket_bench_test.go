package egress

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// BenchmarkWSStream measures the agent's direction of a WebSocket
// session: a 256 KiB text message, in one frame or in 16 fragments, fed
// in 32 KiB reads, parsed, unmasked and scanned for the bottle's secret
// (a route without token patterns), against parsing alone.
func BenchmarkWSStream(b *testing.B) {
	pol, err := policy.Parse([]byte(wsPolicy))
	if err != nil {
		b.Fatal(err)
	}
	st, err := newState(pol, map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)})
	if err != nil {
		b.Fatal(err)
	}
	rt := &st.pol.Routes[0]
	msg := []byte(strings.Repeat(`{"type":"response.create","text":"a clean line"}`+"\n", 256<<10/50))
	for _, parts := range []int{1, 16} {
		var in bytes.Buffer
		for i := range parts {
			op := byte(opCont)
			if i == 0 {
				op = opText
			}
			_ = writeFrame(&in, i == parts-1, 0, op, true, msg[i*len(msg)/parts:(i+1)*len(msg)/parts])
		}
		for _, scanned := range []bool{false, true} {
			b.Run("frames="+strconv.Itoa(parts)+"/scanned="+strconv.FormatBool(scanned), func(b *testing.B) {
				b.SetBytes(int64(in.Len()))
				b.ReportAllocs()
				for b.Loop() {
					s := wsStream{fromClient: true}
					if scanned {
						s.scan = func(op byte, text string) (string, *refusal) {
							out, _, rf := scanWSOut(st, rt, false, op, text)
							return out, rf
						}
					}
					n := 0
					for p := in.Bytes(); len(p) > 0; p = p[min(len(p), 32<<10):] {
						rel, _, rf := s.feed(p[:min(len(p), 32<<10)])
						if rf != nil {
							b.Fatal(rf.reason)
						}
						n += len(rel)
					}
					if n != in.Len() {
						b.Fatalf("released %d of %d bytes", n, in.Len())
					}
				}
			})
		}
	}
}
