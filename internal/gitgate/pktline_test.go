package gitgate

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

const (
	hashA = "1111111111111111111111111111111111111111"
	hashB = "2222222222222222222222222222222222222222"
	zero  = "0000000000000000000000000000000000000000"
	flush = "0000"
)

// pkt encodes lines as pkt-lines.
func pkt(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%04x%s", len(l)+4, l)
	}
	return b.String()
}

func TestReadPushRequest(t *testing.T) {
	caps := "report-status side-band-64k push-options atomic agent=git/2.39.5"
	tests := []struct {
		name     string
		in       string
		want     *pushRequest
		wantRest string
		wantErr  string
	}{
		{
			name: "probe",
			in:   flush,
			want: &pushRequest{caps: capSet{}},
		},
		{
			name: "empty-body",
			in:   "",
			want: &pushRequest{caps: capSet{}},
		},
		{
			name: "create-with-pack",
			in:   pkt(zero+" "+hashA+" refs/heads/main\x00report-status side-band-64k\n") + flush + "PACK...",
			want: &pushRequest{
				commands: []Command{{Name: "refs/heads/main", New: plumbing.NewHash(hashA)}},
				caps:     capSet{"report-status": "", "side-band-64k": ""},
			},
			wantRest: "PACK...",
		},
		{
			name: "options-in-order",
			in: pkt(hashA+" "+hashB+" refs/heads/main\x00"+caps+"\n", zero+" "+hashA+" refs/tags/v1\n") + flush +
				pkt("a=1\n", "b", "a=2\n") + flush + "PACK",
			want: &pushRequest{
				commands: []Command{
					{Name: "refs/heads/main", Old: plumbing.NewHash(hashA), New: plumbing.NewHash(hashB)},
					{Name: "refs/tags/v1", New: plumbing.NewHash(hashA)},
				},
				caps:    capSet{"report-status": "", "side-band-64k": "", "push-options": "", "atomic": "", "agent": "git/2.39.5"},
				options: []string{"a=1", "b", "a=2"},
			},
			wantRest: "PACK",
		},
		{
			name: "delete-only",
			in:   pkt(hashA+" "+zero+" refs/heads/gone\x00report-status delete-refs") + flush,
			want: &pushRequest{
				commands: []Command{{Name: "refs/heads/gone", Old: plumbing.NewHash(hashA)}},
				caps:     capSet{"report-status": "", "delete-refs": ""},
			},
		},
		{name: "short-hash", in: pkt(zero+" 1234 refs/heads/main\x00") + flush, wantErr: "malformed command"},
		{name: "uppercase-hash", in: pkt(zero+" "+strings.ToUpper("abcdef1234abcdef1234abcdef1234abcdef1234")+" refs/heads/main\x00") + flush, wantErr: "malformed command"},
		{name: "no-ref", in: pkt(zero+" "+hashA+"\x00") + flush, wantErr: "malformed command"},
		{name: "control-in-ref", in: pkt(zero+" "+zero+" \n000\n") + flush, wantErr: "malformed command"},
		{name: "extra-field", in: pkt(zero+" "+hashA+" refs/heads/a b\x00") + flush, wantErr: "malformed command"},
		{name: "duplicate", in: pkt(zero+" "+hashA+" refs/heads/a\x00", zero+" "+hashB+" refs/heads/a") + flush, wantErr: "duplicate command"},
		{name: "shallow", in: pkt("shallow "+hashA) + flush, wantErr: "shallow pushes are not supported"},
		{name: "truncated", in: pkt(zero + " " + hashA + " refs/heads/a\x00"), wantErr: "reading commands: EOF"},
		{name: "bad-length", in: "zzzz", wantErr: "invalid pkt-len"},
		{name: "options-truncated", in: pkt(zero+" "+hashA+" refs/heads/a\x00push-options") + flush + pkt("a"), wantErr: "reading push options: EOF"},
		{name: "option-with-nul", in: pkt(zero+" "+hashA+" refs/heads/a\x00push-options") + flush + pkt("a\x00b") + flush, wantErr: "holds NUL or LF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := strings.NewReader(tt.in)
			got, err := readPushRequest(r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readPushRequest(%q) = %+v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readPushRequest(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(pushRequest{})); diff != "" {
				t.Errorf("readPushRequest(%q) (-want +got):\n%s", tt.in, diff)
			}
			if rest, _ := io.ReadAll(r); string(rest) != tt.wantRest {
				t.Errorf("readPushRequest(%q) left %q, want %q", tt.in, rest, tt.wantRest)
			}
		})
	}
}

func TestReadFetchRequest(t *testing.T) {
	want := pkt("want "+hashA+" multi_ack_detailed side-band-64k ofs-delta\n", "want "+hashB+"\n") + flush
	tests := []struct {
		name    string
		in      string
		want    *fetchRequest
		wantErr string
	}{
		{name: "probe", in: flush, want: &fetchRequest{caps: capSet{}}},
		{
			name: "clone",
			in:   want + pkt("done\n"),
			want: &fetchRequest{
				wants: hashes(hashA, hashB),
				caps:  capSet{"multi_ack_detailed": "", "side-band-64k": "", "ofs-delta": ""},
				done:  true,
			},
		},
		{
			name: "round",
			in:   want + pkt("have "+hashB+"\n", "have "+hashA+"\n") + flush,
			want: &fetchRequest{
				wants: hashes(hashA, hashB),
				caps:  capSet{"multi_ack_detailed": "", "side-band-64k": "", "ofs-delta": ""},
				haves: hashes(hashB, hashA),
			},
		},
		{
			name: "last-round",
			in:   want + pkt("have "+hashB+"\n", "done\n"),
			want: &fetchRequest{
				wants: hashes(hashA, hashB),
				caps:  capSet{"multi_ack_detailed": "", "side-band-64k": "", "ofs-delta": ""},
				haves: hashes(hashB),
				done:  true,
			},
		},
		{name: "shallow", in: pkt("want "+hashA+"\n", "deepen 1\n") + flush, wantErr: "shallow fetches are not supported"},
		{name: "filter", in: pkt("want "+hashA+"\n", "filter blob:none\n") + flush, wantErr: "partial clones are not supported"},
		{name: "bad-want", in: pkt("want 12\n") + flush, wantErr: "malformed want"},
		{name: "bad-have", in: want + pkt("have xyz\n"), wantErr: "malformed have"},
		{name: "unknown", in: want + pkt("hello\n"), wantErr: `unexpected line "hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readFetchRequest(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readFetchRequest(%q) = %+v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readFetchRequest(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(fetchRequest{})); diff != "" {
				t.Errorf("readFetchRequest(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// encodePushRequest is the inverse of readPushRequest.
func encodePushRequest(req *pushRequest) string {
	var b strings.Builder
	for i, c := range req.commands {
		line := fmt.Sprintf("%s %s %s", c.Old, c.New, c.Name)
		if i == 0 {
			var caps []string
			for k, v := range req.caps {
				if v != "" {
					k += "=" + v
				}
				caps = append(caps, k)
			}
			line += "\x00" + strings.Join(caps, " ")
		}
		b.WriteString(pkt(line + "\n"))
	}
	b.WriteString(flush)
	if len(req.commands) > 0 && req.caps.has(capPushOptions) {
		for _, o := range req.options {
			b.WriteString(pkt(o + "\n"))
		}
		b.WriteString(flush)
	}
	return b.String()
}

// FuzzReadPushRequest checks that the push parser never panics, that what
// it accepts is well formed, and that it reads exactly the commands and
// options: encoding the result again and parsing it gives the same
// request, and the same remainder.
func FuzzReadPushRequest(f *testing.F) {
	for _, seed := range []string{
		flush,
		pkt(zero+" "+hashA+" refs/heads/main\x00report-status side-band-64k\n") + flush + "PACK",
		pkt(hashA+" "+hashB+" refs/heads/main\x00push-options atomic\n", zero+" "+hashA+" refs/tags/v1\n") + flush + pkt("a=1\n", "b") + flush,
		pkt(hashA+" "+zero+" refs/heads/gone\x00delete-refs") + flush,
		pkt("shallow " + hashA),
		pkt(zero+" "+hashA+" refs/heads/a\x00push-options") + flush + pkt("a\x00b") + flush,
		"0004", "0001", "ffff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := strings.NewReader(string(in))
		req, err := readPushRequest(r)
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(r)
		for _, c := range req.commands {
			if c.Name == "" || strings.ContainsAny(c.Name.String(), " \x00\n\r") {
				t.Errorf("readPushRequest(%q) accepted ref name %q", in, c.Name)
			}
		}
		for _, o := range req.options {
			if strings.ContainsAny(o, "\x00\n") {
				t.Errorf("readPushRequest(%q) accepted option %q", in, o)
			}
		}
		if len(req.commands) == 0 {
			return
		}
		enc := encodePushRequest(req)
		r2 := strings.NewReader(enc + string(rest))
		again, err := readPushRequest(r2)
		if err != nil {
			t.Fatalf("readPushRequest(%q) = %+v, which does not parse again from %q: %v", in, req, enc, err)
		}
		if diff := cmp.Diff(req, again, cmp.AllowUnexported(pushRequest{})); diff != "" {
			t.Errorf("readPushRequest(%q) round trip (-first +second):\n%s", in, diff)
		}
		if rest2, _ := io.ReadAll(r2); string(rest2) != string(rest) {
			t.Errorf("readPushRequest(%q) left %q, then %q", in, rest, rest2)
		}
	})
}

// FuzzReadFetchRequest checks that the upload-pack parser never panics and
// that a request it accepts has wants unless it is empty.
func FuzzReadFetchRequest(f *testing.F) {
	for _, seed := range []string{
		flush,
		pkt("want "+hashA+" multi_ack_detailed side-band-64k\n") + flush + pkt("done\n"),
		pkt("want "+hashA+"\n") + flush + pkt("have "+hashB+"\n") + flush,
		pkt("want "+hashA+"\n", "deepen 1\n") + flush,
		"0005a", "000",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := readFetchRequest(strings.NewReader(string(in)))
		if err != nil {
			return
		}
		if len(req.wants) == 0 && (len(req.haves) > 0 || req.done) {
			t.Errorf("readFetchRequest(%q) = %+v: haves without wants", in, req)
		}
	})
}
