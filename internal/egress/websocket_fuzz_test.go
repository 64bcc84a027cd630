package egress

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzWSStream feeds arbitrary bytes, cut in arbitrary places, to the
// agent's direction of the frame parser, with a scanner that refuses
// "SECRET". It must never panic, must decide the same however the input
// is cut, and what it releases must be well-formed frames in which no
// message or control frame carries the word, read by an independent
// parser.
func FuzzWSStream(f *testing.F) {
	var seed bytes.Buffer
	_ = writeFrame(&seed, false, 0, opText, true, []byte("SEC"))
	_ = writeFrame(&seed, true, 0, opPing, true, []byte("p"))
	_ = writeFrame(&seed, true, 0, opCont, true, []byte("RET"))
	_ = writeFrame(&seed, true, 0, opBinary, true, bytes.Repeat([]byte("x"), 300))
	f.Add(seed.Bytes(), uint8(3))
	seed.Reset()
	_ = writeFrame(&seed, true, 0, opText, true, []byte("hello"))
	_ = writeFrame(&seed, true, 4, opText, true, []byte("z"))
	f.Add(seed.Bytes(), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		refuseWord := func(b []byte) *refusal {
			if bytes.Contains(b, []byte("SECRET")) {
				return refuse(BlockDLPOutbound, "word")
			}
			return nil
		}
		run := func(step int) ([]byte, bool) {
			s := wsStream{fromClient: true, scan: refuseWord}
			var out []byte
			for i := 0; i < len(in); i += step {
				rel, rf := s.feed(in[i:min(i+step, len(in))])
				out = append(out, rel...)
				if rf != nil {
					return out, true
				}
			}
			return out, false
		}
		whole, wholeRefused := run(max(len(in), 1))
		cutOut, cutRefused := run(int(cut)%16 + 1)
		// On a refusal the connection closes, and what the same feed had
		// parsed before is dropped: the outputs may differ by that.
		if wholeRefused != cutRefused || (!wholeRefused && !bytes.Equal(whole, cutOut)) || !bytes.HasPrefix(cutOut, whole) {
			t.Fatalf("released %q (refused %v) whole but %q (refused %v) cut every %d bytes", whole, wholeRefused, cutOut, cutRefused, int(cut)%16+1)
		}
		for _, out := range [][]byte{whole, cutOut} {
			br := bufio.NewReader(bytes.NewReader(out))
			var msg []byte
			for {
				fin, op, p, err := readFrame(br)
				if err != nil {
					if br.Buffered() > 0 {
						t.Fatalf("released a partial frame: %v", err)
					}
					break
				}
				if op >= 8 {
					if strings.Contains(string(p), "SECRET") {
						t.Fatalf("released a control frame with the word")
					}
					continue
				}
				msg = append(msg, p...)
				if bytes.Contains(msg, []byte("SECRET")) {
					t.Fatalf("released a message with the word")
				}
				if fin {
					msg = nil
				}
			}
		}
	})
}
