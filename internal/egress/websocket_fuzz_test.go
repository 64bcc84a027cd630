package egress

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// fuzzScan refuses "SECRET" anywhere and "TOKEN" in a control frame, and
// redacts "TOKEN" from messages: the decisions scanWSOut makes.
func fuzzScan(op byte, s string) (string, *refusal) {
	switch {
	case strings.Contains(s, "SECRET"), op >= 8 && strings.Contains(s, "TOKEN"):
		return "", refuse(BlockDLPOutbound, "word")
	case strings.Contains(s, "TOKEN"):
		return strings.ReplaceAll(s, "TOKEN", "[REDACTED]"), nil
	}
	return "", nil
}

// FuzzWSStream feeds arbitrary bytes, cut in arbitrary places, to the
// agent's direction of the frame parser, with fuzzScan. It must never
// panic, must decide the same however the input is cut, and what it
// releases, read by an independent parser, must be well-formed masked
// frames in which no message or control frame carries either word: the
// frames the input holds, but for each message with "TOKEN", which is
// one new frame of the same opcode with the word redacted.
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
	seed.Reset()
	_ = writeFrame(&seed, false, 0, opBinary, true, []byte("a TO"))
	_ = writeFrame(&seed, true, 0, opPing, true, []byte("p"))
	_ = writeFrame(&seed, false, 0, opCont, true, []byte("KEN b"))
	_ = writeFrame(&seed, true, 0, opCont, true, bytes.Repeat([]byte("TOKEN"), 30))
	_ = writeFrame(&seed, true, 0, opText, true, []byte("clean"))
	f.Add(seed.Bytes(), uint8(5))
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		run := func(step int) ([]byte, bool) {
			s := wsStream{fromClient: true, scan: fuzzScan}
			var out []byte
			for i := 0; i < len(in); i += step {
				rel, _, rf := s.feed(in[i:min(i+step, len(in))])
				out = append(out, rel...)
				if rf != nil {
					return out, true
				}
			}
			return out, false
		}
		wholeRaw, wholeRefused := run(max(len(in), 1))
		cutRaw, cutRefused := run(int(cut)%16 + 1)
		whole, cutOut := readFrames(t, wholeRaw), readFrames(t, cutRaw)
		// On a refusal the connection closes, and what the same feed had
		// parsed before is dropped: the outputs may differ by that.
		if wholeRefused != cutRefused || (!wholeRefused && !slices.EqualFunc(whole, cutOut, sameFrame)) ||
			len(cutOut) < len(whole) || !slices.EqualFunc(whole, cutOut[:len(whole)], sameFrame) {
			t.Fatalf("released %+v (refused %v) whole but %+v (refused %v) cut every %d bytes", whole, wholeRefused, cutOut, cutRefused, int(cut)%16+1)
		}
		for _, out := range [][]wsFrame{whole, cutOut} {
			var msg []byte
			for _, fr := range out {
				if !fr.masked {
					t.Fatalf("released an unmasked frame %+v", fr)
				}
				if fr.op >= 8 {
					if bytes.Contains(fr.payload, []byte("SECRET")) || bytes.Contains(fr.payload, []byte("TOKEN")) {
						t.Fatalf("released a control frame with a word")
					}
					continue
				}
				msg = append(msg, fr.payload...)
				if bytes.Contains(msg, []byte("SECRET")) || bytes.Contains(msg, []byte("TOKEN")) {
					t.Fatalf("released a message with a word")
				}
				if fr.fin {
					msg = nil
				}
			}
		}
		if !wholeRefused {
			if want := modelWS(in); !slices.EqualFunc(whole, want, sameFrame) {
				t.Fatalf("released %+v, want %+v", whole, want)
			}
		}
	})
}

// readFrames reads released bytes back into frames; a partial frame
// fails t.
func readFrames(t *testing.T, b []byte) []wsFrame {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	var out []wsFrame
	for {
		fr, err := readWSFrame(br)
		if err != nil {
			if br.Buffered() > 0 {
				t.Fatalf("released a partial frame: %v", err)
			}
			return out
		}
		out = append(out, fr)
	}
}

func sameFrame(a, b wsFrame) bool {
	return a.fin == b.fin && a.masked == b.masked && a.op == b.op && bytes.Equal(a.payload, b.payload)
}

// modelWS is what the agent's direction should release for an input it
// does not refuse, worked out with the tests' own frame reader: control
// frames at once, each message once whole, re-framed if redacted.
func modelWS(in []byte) []wsFrame {
	br := bufio.NewReader(bytes.NewReader(in))
	var out, held []wsFrame
	var msg []byte
	for {
		fr, err := readWSFrame(br)
		if err != nil {
			return out
		}
		if fr.op >= 8 {
			out = append(out, fr)
			continue
		}
		held = append(held, fr)
		msg = append(msg, fr.payload...)
		if !fr.fin {
			continue
		}
		if red, _ := fuzzScan(held[0].op, string(msg)); red != "" {
			out = append(out, wsFrame{fin: true, masked: true, op: held[0].op, payload: []byte(red)})
		} else {
			out = append(out, held...)
		}
		held, msg = nil, nil
	}
}

// FuzzWSRedact runs the real outbound scan of a redact route over
// arbitrary messages holding the bottle's secret or a token: it either
// closes the connection or sends on a message in which neither scanner
// finds anything more, that is valid UTF-8 if a text message was.
func FuzzWSRedact(f *testing.F) {
	f.Add([]byte("key="+testSecret), true, true)
	f.Add([]byte("é token="+ghToken+" ü"), false, true)
	f.Add([]byte("a "+ghToken+" b "+testSecret), true, false)
	f.Add([]byte("\xff token="+ghToken), false, true)
	pol, err := policy.Parse([]byte(wsPolicy))
	if err != nil {
		f.Fatal(err)
	}
	st, err := newState(pol, map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)})
	if err != nil {
		f.Fatal(err)
	}
	own, other := &st.pol.Routes[0], &st.pol.Routes[1]
	f.Fuzz(func(t *testing.T, msg []byte, ownHost, isText bool) {
		rt := other
		if ownHost {
			rt = own
		}
		op := byte(opBinary)
		if isText {
			op = opText
		}
		out, _, rf := scanWSOut(st, rt, true, op, string(msg))
		if rf != nil {
			if strings.Contains(rf.reason, testSecret) {
				t.Fatalf("the refusal holds the secret: %s", rf.reason)
			}
			return
		}
		if out == "" {
			out = string(msg)
		}
		if fs := st.scanner.ScanKnown("check", out); len(fs) > 0 {
			t.Fatalf("scanWSOut(%q) sent %q: it still holds the secret", msg, out)
		}
		if isText && utf8.Valid(msg) && !utf8.ValidString(out) {
			t.Fatalf("scanWSOut(%q) = %q: no longer UTF-8", msg, out)
		}
		if out2, _, rf := scanWSOut(st, rt, true, op, out); rf != nil || out2 != "" {
			t.Fatalf("scanWSOut(%q) sent %q, in which the scan still matches", msg, out)
		}
	})
}
