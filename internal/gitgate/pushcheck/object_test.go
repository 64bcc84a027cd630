package pushcheck

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseObject(t *testing.T) {
	const tree = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
	const who = "author A U Thor <a@example.com> 1700000000 +0000\ncommitter C O Mitter <c@example.com> 1700000000 +0000\n"
	tests := []struct {
		name      string
		raw       string
		headers   []header
		message   string
		msgLine   int
		malformed string
		unknown   []string // names of unknownHeaders(commitHeaders)
	}{
		{
			name: "plain commit",
			raw:  tree + who + "\nsubject\n\nbody\n",
			headers: []header{
				{name: "tree", value: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", first: 1, last: 1},
				{name: "author", value: "A U Thor <a@example.com> 1700000000 +0000", first: 2, last: 2},
				{name: "committer", value: "C O Mitter <c@example.com> 1700000000 +0000", first: 3, last: 3},
			},
			message: "subject\n\nbody\n", msgLine: 5,
		},
		{
			name: "signature continues over lines",
			raw:  tree + who + "gpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----\n\nsigned\n",
			headers: []header{
				{name: "tree", value: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", first: 1, last: 1},
				{name: "author", value: "A U Thor <a@example.com> 1700000000 +0000", first: 2, last: 2},
				{name: "committer", value: "C O Mitter <c@example.com> 1700000000 +0000", first: 3, last: 3},
				{name: "gpgsig", value: "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----", first: 4, last: 6},
			},
			message: "signed\n", msgLine: 8,
		},
		{
			name: "extra header",
			raw:  tree + "x-secret value\n\nm",
			headers: []header{
				{name: "tree", value: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", first: 1, last: 1},
				{name: "x-secret", value: "value", first: 2, last: 2},
			},
			message: "m", msgLine: 4, unknown: []string{"x-secret"},
		},
		{
			name: "encoding that hides ASCII",
			raw:  tree + "encoding UTF-16LE\n\nm\n",
			headers: []header{
				{name: "tree", value: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", first: 1, last: 1},
				{name: "encoding", value: "UTF-16LE", first: 2, last: 2},
			},
			message: "m\n", msgLine: 4, unknown: []string{"encoding"},
		},
		{
			name: "ASCII-compatible encoding",
			raw:  tree + "encoding ISO-8859-1\n\nm\n",
			headers: []header{
				{name: "tree", value: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", first: 1, last: 1},
				{name: "encoding", value: "ISO-8859-1", first: 2, last: 2},
			},
			message: "m\n", msgLine: 4,
		},
		{
			name:      "NUL in the message",
			raw:       tree + "\nm\x00x\n",
			headers:   []header{{name: "tree", value: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", first: 1, last: 1}},
			message:   "m\x00x\n",
			msgLine:   3,
			malformed: "it holds a NUL byte",
		},
		{
			name:      "continuation first",
			raw:       " orphan\n\nm",
			headers:   []header{{value: "orphan", first: 1, last: 1}},
			message:   "m",
			msgLine:   3,
			malformed: "it starts with a continuation line",
			unknown:   []string{""},
		},
		{
			name:      "header without value",
			raw:       tree + "x-flag\n\nm",
			headers:   []header{{name: "tree", value: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", first: 1, last: 1}, {name: "x-flag", first: 2, last: 2}},
			message:   "m",
			msgLine:   4,
			malformed: "a header line has no value",
			unknown:   []string{"x-flag"},
		},
		{
			name:    "no message",
			raw:     tree,
			headers: []header{{name: "tree", value: "4b825dc642cb6eb9a060e54bf8d69288fbee4904", first: 1, last: 1}},
		},
		{name: "empty", raw: "", malformed: "it is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := parseObject(tt.raw)
			want := rawObject{headers: tt.headers, message: tt.message, msgLine: tt.msgLine, malformed: tt.malformed}
			if diff := cmp.Diff(want, o, cmp.AllowUnexported(rawObject{}, header{})); diff != "" {
				t.Errorf("parseObject(%q) (-want +got):\n%s", tt.raw, diff)
			}
			var unknown []string
			for _, h := range o.unknownHeaders(commitHeaders) {
				unknown = append(unknown, h.name)
			}
			if diff := cmp.Diff(tt.unknown, unknown); diff != "" {
				t.Errorf("unknownHeaders (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChannelOfLine(t *testing.T) {
	o := parseObject("tree 1\nauthor a\nx-y z\n more\ngpgsig s\n\nmsg\nmore\n")
	for line, want := range map[int]string{1: "tree", 2: "author", 3: "header", 4: "header", 5: "gpgsig", 7: "message", 8: "message", 9: "message"} {
		if got := o.channel(line, commitHeaders); got != want {
			t.Errorf("channel(%d) = %q, want %q", line, got, want)
		}
	}
}

func TestSafeWord(t *testing.T) {
	for s, want := range map[string]bool{
		"x-secret": true, "utf-16le": true, "change-id": true,
		"": false, "X-Secret": false, "-x": false, "1abc": false, "akiaz3mhn6vq4rtwpx2l": false, "a b": false, "a\x1b[2J": false,
	} {
		if got := safeWord(s); got != want {
			t.Errorf("safeWord(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzParseObject checks that parseObject never panics, accounts for
// every line of its input, and says why an object is malformed whenever
// git would not have written it that way.
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{
		"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor a <a@b> 1 +0000\n\nmsg\n",
		"object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ntype commit\ntag v1\ntagger t <t@x> 1 +0000\n\nnotes\n",
		"gpgsig -----BEGIN-----\n x\n -----END-----\n\n",
		" lead\n", "x\n\n", "\n", "", "a b\x00\n\nc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		o := parseObject(raw)
		if strings.IndexByte(raw, 0) >= 0 && o.malformed == "" {
			t.Errorf("parseObject(%q): a NUL byte passed as well-formed", raw)
		}
		prev := 0
		for _, h := range o.headers {
			if h.first != prev+1 || h.last < h.first {
				t.Fatalf("parseObject(%q): header %+v does not follow line %d", raw, h, prev)
			}
			if h.name == "" && o.malformed == "" {
				t.Errorf("parseObject(%q): a header without a name passed as well-formed", raw)
			}
			if strings.ContainsAny(h.name, " \n") {
				t.Errorf("parseObject(%q): header name %q holds a space or newline", raw, h.name)
			}
			prev = h.last
		}
		if o.msgLine != 0 {
			if o.msgLine != prev+2 {
				t.Errorf("parseObject(%q): message starts on line %d, want %d", raw, o.msgLine, prev+2)
			}
			if !strings.HasSuffix(raw, "\n\n"+o.message) && raw != "\n"+o.message {
				t.Errorf("parseObject(%q): message %q is not what follows the empty line", raw, o.message)
			}
		} else if o.message != "" {
			t.Errorf("parseObject(%q): a message without its line", raw)
		}
		// Every line is a header's or the message's.
		for l := 1; l <= prev; l++ {
			if c := o.channel(l, commitHeaders); c == "message" || c == "object" {
				t.Errorf("parseObject(%q): header line %d is in channel %q", raw, l, c)
			}
		}
	})
}

// FuzzPrintableRuns checks that every line printableRuns returns is a
// run of at least minBinaryRun printable bytes of its input, and that a
// printable run of that length in the input is never dropped.
func FuzzPrintableRuns(f *testing.F) {
	for _, s := range []string{"", "\x00\x01id=AKIAEXAMPLE\x00", "short\x00", "tab\tbed text\n more text", strings.Repeat("x", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b string) {
		out := printableRuns(b)
		for l := range strings.Lines(out) {
			l = strings.TrimSuffix(l, "\n")
			if len(l) < minBinaryRun || !strings.Contains(b, l) {
				t.Fatalf("printableRuns(%q) returned %q, not a run of the input", b, l)
			}
			for i := 0; i < len(l); i++ {
				if c := l[i]; c != '\t' && (c < 0x20 || c >= 0x7f) {
					t.Fatalf("printableRuns(%q) returned %q with byte %#x", b, l, c)
				}
			}
		}
		for _, run := range strings.FieldsFunc(b, func(r rune) bool { return r != '\t' && (r < 0x20 || r >= 0x7f) }) {
			if len(run) >= minBinaryRun && !strings.Contains(out, run) {
				t.Fatalf("printableRuns(%q) dropped the run %q", b, run)
			}
		}
	})
}
