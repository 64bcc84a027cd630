package dlp

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

const redactSecret = "s3cr3t-t0ken/value+more~x"

func testRedactor(patterns bool) *Redactor {
	return NewRedactor([]Secret{{Slot: "S", Value: secret.New(redactSecret)}}, patterns)
}

func jsonU(s string, every int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i%every == 0 {
			fmt.Fprintf(&b, `\u%04x`, s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// responseForms are the ways an upstream could hand the secret back.
func responseForms() map[string]string {
	b64 := base64.StdEncoding.EncodeToString([]byte("ab" + redactSecret))
	return map[string]string{
		"plain":               redactSecret,
		"base64":              base64.StdEncoding.EncodeToString([]byte(redactSecret)),
		"base64 shifted":      b64,
		"base64url":           base64.RawURLEncoding.EncodeToString([]byte("x" + redactSecret)),
		"url query":           url.QueryEscape(redactSecret),
		"url path":            url.PathEscape(redactSecret),
		"url every byte":      percentAll(redactSecret),
		"url some bytes":      strings.ReplaceAll(redactSecret, "t", "%74"),
		"json all escaped":    jsonU(redactSecret, 1),
		"json some escaped":   jsonU(redactSecret, 3),
		"json slash":          strings.ReplaceAll(redactSecret, "/", `\/`),
		"json base64 slashes": strings.ReplaceAll(b64, "/", `\/`),
		"hex":                 fmt.Sprintf("%x", redactSecret),
		"url of json escapes": url.QueryEscape(jsonU(redactSecret, 1)),
	}
}

// leaks reports whether out still holds the secret in a form a reader
// of the response could recover.
func leaks(out string) bool {
	dv, _ := decodeView([]byte(out))
	for _, s := range []string{out, string(dv)} {
		for _, f := range Forms(redactSecret) {
			if strings.Contains(s, f) {
				return true
			}
		}
	}
	return false
}

func TestRedactReaderForms(t *testing.T) {
	r := testRedactor(false)
	for name, form := range responseForms() {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"one byte reads", iotest.OneByteReader}, {"half reads", iotest.HalfReader}} {
			t.Run(name+"/"+wrap.name, func(t *testing.T) {
				in := `{"headers":{"Authorization":"Bearer ` + form + `"}} and again ` + form + ` end`
				if !leaks(in) {
					t.Fatalf("the test form %q is not a leak the check recognises", form)
				}
				rc := r.Reader(io.NopCloser(wrap.f(strings.NewReader(in))), true, nil)
				out, err := io.ReadAll(rc)
				if err != nil {
					t.Fatal(err)
				}
				if leaks(string(out)) {
					t.Errorf("the secret passed (%s):\n%s", name, out)
				}
				if len(out) != len(in) {
					t.Errorf("length changed: %d, want %d", len(out), len(in))
				}
				if !strings.HasSuffix(string(out), " end") || !strings.Contains(string(out), Redacted) {
					t.Errorf("output = %q", out)
				}
			})
		}
	}
}

func TestRedactReaderStreamsUnrelatedData(t *testing.T) {
	r := testRedactor(false)
	pr, pw := io.Pipe()
	rc := r.Reader(pr, true, nil)
	go func() { _, _ = pw.Write([]byte("data: first event\n\n")) }()
	buf := make([]byte, 100)
	n, err := rc.Read(buf)
	if err != nil || string(buf[:n]) != "data: first event\n\n" {
		t.Fatalf("first read = %q, %v; want the event at once", buf[:n], err)
	}
	// A tail that may begin the secret is held until the rest comes.
	go func() { _, _ = pw.Write([]byte("data: " + redactSecret[:5])) }()
	n, _ = rc.Read(buf)
	if string(buf[:n]) != "data: " {
		t.Fatalf("second read = %q, want the tail held", buf[:n])
	}
	go func() { _, _ = pw.Write([]byte(redactSecret[5:] + "\n\n")); _ = pw.Close() }()
	rest, _ := io.ReadAll(rc)
	if strings.Contains(string(rest), redactSecret[5:]) || !strings.HasSuffix(string(rest), "\n\n") {
		t.Fatalf("rest = %q", rest)
	}
}

func TestRedactRecordFields(t *testing.T) {
	r := testRedactor(true)
	for _, tc := range []struct{ name, in string }{
		{"plain in a path", "/x/" + redactSecret + "/y"},
		{"lowercased host label", strings.ToLower(redactSecret) + ".other.test"},
		{"base64 in a path", "/q/" + base64.StdEncoding.EncodeToString([]byte(redactSecret))},
		{"percent-encoded", "/" + percentAll(redactSecret)},
		{"double percent-encoded", "/" + url.QueryEscape(percentAll(redactSecret))},
		{"split across host labels", "s3cr3t.t0ken.value.more.x.other.test"},
		{"json-escaped", jsonU(redactSecret, 2)},
		{"AWS key shape", "/upload/AKIAZ3MHN6VQ4RTWPX2L/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := r.String(tc.in)
			low := strings.ToLower(out)
			if strings.Contains(low, strings.ToLower(redactSecret)) || strings.Contains(out, "AKIAZ3MHN6VQ4RTWPX2L") || leaks(out) || !strings.Contains(out, Redacted) {
				t.Errorf("String(%q) = %q", tc.in, out)
			}
		})
	}
	if got := r.String("/v1/models"); got != "/v1/models" {
		t.Errorf("an ordinary path changed: %q", got)
	}
	var nilR *Redactor
	if got := nilR.String("/x"); got != "/x" {
		t.Errorf("nil redactor changed %q", got)
	}
}

// FuzzRedactReader checks that streaming finds what one pass over the
// whole body finds, whatever the reads, and keeps the length.
func FuzzRedactReader(f *testing.F) {
	for _, form := range responseForms() {
		f.Add([]byte("a"+form+"b"), uint8(3))
	}
	f.Add([]byte(redactSecret[:10]+redactSecret), uint8(7))
	r := testRedactor(false)
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole, _ := io.ReadAll(r.Reader(io.NopCloser(bytes.NewReader(in)), true, nil))
		chunked, _ := io.ReadAll(r.Reader(io.NopCloser(&stepReader{b: in, step: int(step%64) + 1}), true, nil))
		small, _ := io.ReadAll(iotest.OneByteReader(r.Reader(io.NopCloser(&stepReader{b: in, step: int(step%64) + 1}), true, nil)))
		if len(whole) != len(in) || !bytes.Equal(whole, chunked) || !bytes.Equal(whole, small) {
			t.Fatalf("in %q: whole %q, chunked %q, small reads %q", in, whole, chunked, small)
		}
		if bytes.Contains(whole, []byte(redactSecret)) {
			t.Fatalf("secret passed: %q", whole)
		}
	})
}

type stepReader struct {
	b    []byte
	step int
}

func (s *stepReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), s.step)], s.b)
	s.b = s.b[n:]
	return n, nil
}

func BenchmarkRedactReader(b *testing.B) {
	r := testRedactor(false)
	bin := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(bin)
	text := bytes.Repeat([]byte(`{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","content":[{"type":"text","text":"Hello \u003cb\u003e!"}]}`+"\n"), 1<<20/110)
	for _, tc := range []struct {
		name string
		in   []byte
		text bool
	}{{"binary", bin, false}, {"json", text, true}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.in)))
			for b.Loop() {
				_, _ = io.Copy(io.Discard, r.Reader(io.NopCloser(bytes.NewReader(tc.in)), tc.text, nil))
			}
		})
	}
}

// FuzzRedactString checks that a redacted record never holds the secret,
// in any case, plain or once decoded.
func FuzzRedactString(f *testing.F) {
	for _, form := range responseForms() {
		f.Add("/p/" + form + "/q")
	}
	f.Add("x.s3cr3t.t0ken.value.more.x.test")
	r := testRedactor(false)
	low := strings.ToLower(redactSecret)
	f.Fuzz(func(t *testing.T, in string) {
		out := r.String(in)
		dv, _ := decodeView([]byte(strings.ToLower(out)))
		if strings.Contains(strings.ToLower(out), low) || strings.Contains(string(dv), low) {
			t.Fatalf("String(%q) = %q", in, out)
		}
	})
}

// BenchmarkRedactSmall is the per-response cost on a 1 KiB JSON body and
// a few headers' worth of values.
func BenchmarkRedactSmall(b *testing.B) {
	r := NewRedactor([]Secret{{Slot: "S", Value: secret.New("bench0123456789abcdef0123456789abcdef")}}, false)
	body := bytes.Repeat([]byte(`{"id":"0123456789","name":"item","tags":["a","b"],"n":12}`+"\n"), 1024/57)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = io.Copy(io.Discard, r.Reader(io.NopCloser(bytes.NewReader(body)), true, nil))
		_ = r.Known("Wed, 02 Dec 2026 06:53:04 GMT")
	}
}
