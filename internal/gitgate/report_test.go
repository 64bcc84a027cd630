package gitgate

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/google/go-cmp/cmp"
)

// sidebandMessages decodes the channel 2 lines of a side-band response.
func sidebandMessages(t *testing.T, body []byte) []string {
	t.Helper()
	var msgs []string
	s := pktline.NewScanner(bytes.NewReader(body))
	for s.Scan() {
		b := s.Bytes()
		if len(b) == 0 || b[0] != 2 {
			continue
		}
		msgs = append(msgs, strings.Split(strings.TrimSuffix(string(b[1:]), "\n"), "\n")...)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("decoding side-band response %q: %v", body, err)
	}
	return msgs
}

func TestProgressWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		quiet  bool
		want   []string
	}{
		{"lines", []string{"a\nb\n"}, false, []string{"upstream: a", "upstream: b"}},
		{"split-write", []string{"par", "tial\nnext"}, false, []string{"upstream: partial", "upstream: next"}},
		{"meter", []string{"Counting: 10%\rCounting: 50%\r", "Counting: 100%, done.\n"}, false, []string{"upstream: Counting: 100%, done."}},
		{"crlf", []string{"line\r\n"}, false, []string{"upstream: line"}},
		{"blank", []string{"\n  \n\r\n"}, false, nil},
		{"quiet-drops-meters", []string{"Counting: 1\rCounting: 2, done.\n", "hook: refused\n"}, true, []string{"upstream: hook: refused"}},
		{"endless-line", []string{strings.Repeat("x", maxProgressLine+1)}, false, []string{"upstream: " + strings.Repeat("x", maxProgressLine+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rp := newReporter(rec, capSet{capSideBand64k: ""})
			pw := &progressWriter{rp: rp, quiet: tt.quiet}
			for _, w := range tt.writes {
				if n, err := pw.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			pw.flush()
			if diff := cmp.Diff(tt.want, sidebandMessages(t, rec.Body.Bytes())); diff != "" {
				t.Errorf("relayed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReporterWithoutSideband(t *testing.T) {
	rec := httptest.NewRecorder()
	rp := newReporter(rec, capSet{capReportStatus: ""})
	rp.message("dropped: no channel for it")
	rp.status("ok", []string{"ok refs/heads/a", "ng refs/heads/b no"})
	rp.message("after the end")
	want := pkt("unpack ok\n", "ok refs/heads/a\n", "ng refs/heads/b no\n") + flush
	if got := rec.Body.String(); got != want {
		t.Errorf("response = %q, want %q", got, want)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/x-git-receive-pack-result" {
		t.Errorf("Content-Type = %q", got)
	}
}

func TestRequestBody(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("0000"))
	zw.Close()
	tests := []struct {
		encoding, body string
		want, wantErr  string
	}{
		{"", "0000", "0000", ""},
		{"gzip", gz.String(), "0000", ""},
		{"x-gzip", gz.String(), "0000", ""},
		{"gzip", "not gzip", "", "gzip request body"},
		{"br", "0000", "", `unsupported Content-Encoding "br"`},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/proj/git-receive-pack", strings.NewReader(tt.body))
		r.Header.Set("Content-Encoding", tt.encoding)
		body, err := requestBody(r)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("requestBody(%s) = %v, want error %q", tt.encoding, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("requestBody(%s): %v", tt.encoding, err)
			continue
		}
		if got, err := io.ReadAll(body); string(got) != tt.want || err != nil {
			t.Errorf("requestBody(%s) read %q, %v; want %q", tt.encoding, got, err, tt.want)
		}
	}
}

func TestLimitReader(t *testing.T) {
	tests := []struct {
		in      string
		n       int64
		wantErr error
	}{
		{"abc", 3, nil},
		{"abc", 4, nil},
		{"abcd", 3, errTooLarge},
	}
	for _, tt := range tests {
		lr := &limitReader{r: strings.NewReader(tt.in), n: tt.n}
		_, err := io.ReadAll(lr)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("reading %q with limit %d: %v, want %v", tt.in, tt.n, err, tt.wantErr)
		}
	}
}
