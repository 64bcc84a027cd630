package dnsgate

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/net/dns/dnsmessage"
)

var (
	testClient = netip.MustParseAddr("10.0.0.2")
	testAnswer = netip.MustParseAddr("192.0.2.1")
	label63    = strings.Repeat("a", 63)
)

// testAllow allows a few names, including some that are not host names, to
// show that Handle refuses those whatever the policy says.
func testAllow(name string) bool {
	switch name {
	case "example.com", "ex_ample.com", "a b.com", "nul\x00.com", "bücher.com", label63 + ".com":
		return true
	}
	return false
}

// request builds a query with the given questions and header tweaks.
func request(t testing.TB, h dnsmessage.Header, opt bool, qs ...dnsmessage.Question) []byte {
	t.Helper()
	m := dnsmessage.Message{Header: h, Questions: qs}
	if opt {
		var rh dnsmessage.ResourceHeader
		if err := rh.SetEDNS0(4096, dnsmessage.RCodeSuccess, true); err != nil {
			t.Fatal(err)
		}
		m.Additionals = []dnsmessage.Resource{{Header: rh, Body: &dnsmessage.OPTResource{
			Options: []dnsmessage.Option{{Code: 10, Data: []byte("cookie12")}},
		}}}
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("packing request: %v", err)
	}
	return b
}

// rawRequest builds a one-question A query from raw wire labels, so that it
// can hold names dnsmessage refuses to pack.
func rawRequest(id uint16, labels ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD; QDCOUNT=1
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0, 0, 1, 0, 1) // root, type A, class IN
}

func question(name string, t dnsmessage.Type) dnsmessage.Question {
	return dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: t, Class: dnsmessage.ClassINET}
}

func aRecord(name string, a netip.Addr) dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: answerTTL, Length: 4},
		Body:   &dnsmessage.AResource{A: a.As4()},
	}
}

func optRecord() dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("."), Type: dnsmessage.TypeOPT, Class: ednsPayload},
		Body:   &dnsmessage.OPTResource{},
	}
}

func TestHandle(t *testing.T) {
	rd := dnsmessage.Header{ID: 0xbeef, RecursionDesired: true}
	// reply is the response header for rd with the given rcode.
	reply := func(rc dnsmessage.RCode, aa bool) dnsmessage.Header {
		return dnsmessage.Header{ID: 0xbeef, Response: true, RecursionDesired: true, Authoritative: aa, RCode: rc}
	}
	a := func(name string) dnsmessage.Question { return question(name, dnsmessage.TypeA) }
	chaos := dnsmessage.Question{Name: dnsmessage.MustNewName("example.com."), Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassCHAOS}
	ok := Query{Client: testClient, Name: "example.com", Type: "A", Allowed: true, Rcode: "NOERROR"}
	nx := func(name, typ string) Query {
		return Query{Client: testClient, Name: name, Type: typ, Rcode: "NXDOMAIN"}
	}

	tests := []struct {
		name      string
		req       []byte
		want      *dnsmessage.Message // nil: dropped
		wantQuery Query
	}{{
		name:      "allowed-a",
		req:       request(t, rd, false, a("example.com.")),
		want:      &dnsmessage.Message{Header: reply(0, true), Questions: []dnsmessage.Question{a("example.com.")}, Answers: []dnsmessage.Resource{aRecord("example.com.", testAnswer)}},
		wantQuery: ok,
	}, {
		name:      "no-recursion-desired",
		req:       request(t, dnsmessage.Header{ID: 0xbeef}, false, a("example.com.")),
		want:      &dnsmessage.Message{Header: dnsmessage.Header{ID: 0xbeef, Response: true, Authoritative: true}, Questions: []dnsmessage.Question{a("example.com.")}, Answers: []dnsmessage.Resource{aRecord("example.com.", testAnswer)}},
		wantQuery: ok,
	}, {
		name:      "allowed-aaaa-nodata",
		req:       request(t, rd, false, question("example.com.", dnsmessage.TypeAAAA)),
		want:      &dnsmessage.Message{Header: reply(0, true), Questions: []dnsmessage.Question{question("example.com.", dnsmessage.TypeAAAA)}},
		wantQuery: Query{Client: testClient, Name: "example.com", Type: "AAAA", Allowed: true, Rcode: "NOERROR"},
	}, {
		name:      "allowed-txt-nodata",
		req:       request(t, rd, false, question("example.com.", dnsmessage.TypeTXT)),
		want:      &dnsmessage.Message{Header: reply(0, true), Questions: []dnsmessage.Question{question("example.com.", dnsmessage.TypeTXT)}},
		wantQuery: Query{Client: testClient, Name: "example.com", Type: "TXT", Allowed: true, Rcode: "NOERROR"},
	}, {
		name:      "unlisted-a",
		req:       request(t, rd, false, a("evil.example.")),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{a("evil.example.")}},
		wantQuery: nx("evil.example", "A"),
	}, {
		name:      "unlisted-txt",
		req:       request(t, rd, false, question("secret-data.evil.example.", dnsmessage.TypeTXT)),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{question("secret-data.evil.example.", dnsmessage.TypeTXT)}},
		wantQuery: nx("secret-data.evil.example", "TXT"),
	}, {
		name:      "subdomain-of-allowed",
		req:       request(t, rd, false, a("x.example.com.")),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{a("x.example.com.")}},
		wantQuery: nx("x.example.com", "A"),
	}, {
		name:      "uppercase-echoed-verbatim",
		req:       request(t, rd, false, a("ExAmPlE.COM.")),
		want:      &dnsmessage.Message{Header: reply(0, true), Questions: []dnsmessage.Question{a("ExAmPlE.COM.")}, Answers: []dnsmessage.Resource{aRecord("ExAmPlE.COM.", testAnswer)}},
		wantQuery: ok,
	}, {
		name:      "edns0",
		req:       request(t, rd, true, a("example.com.")),
		want:      &dnsmessage.Message{Header: reply(0, true), Questions: []dnsmessage.Question{a("example.com.")}, Answers: []dnsmessage.Resource{aRecord("example.com.", testAnswer)}, Additionals: []dnsmessage.Resource{optRecord()}},
		wantQuery: ok,
	}, {
		name:      "edns0-unlisted",
		req:       request(t, rd, true, a("evil.example.")),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{a("evil.example.")}, Additionals: []dnsmessage.Resource{optRecord()}},
		wantQuery: nx("evil.example", "A"),
	}, {
		name:      "two-questions",
		req:       request(t, rd, false, a("example.com."), a("evil.example.")),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeFormatError, false)},
		wantQuery: Query{Client: testClient, Rcode: "FORMERR"},
	}, {
		name:      "no-question",
		req:       request(t, rd, false),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeFormatError, false)},
		wantQuery: Query{Client: testClient, Rcode: "FORMERR"},
	}, {
		name:      "class-chaos",
		req:       request(t, rd, false, chaos),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeFormatError, false), Questions: []dnsmessage.Question{chaos}},
		wantQuery: Query{Client: testClient, Name: "example.com", Type: "TXT", Rcode: "FORMERR"},
	}, {
		name: "opcode-status",
		req:  request(t, dnsmessage.Header{ID: 0xbeef, OpCode: 2, RecursionDesired: true}, false, a("example.com.")),
		want: &dnsmessage.Message{
			Header:    dnsmessage.Header{ID: 0xbeef, Response: true, OpCode: 2, RecursionDesired: true, RCode: dnsmessage.RCodeNotImplemented},
			Questions: []dnsmessage.Question{a("example.com.")},
		},
		wantQuery: Query{Client: testClient, Name: "example.com", Type: "A", Rcode: "NOTIMP"},
	}, {
		name: "response-dropped",
		req:  request(t, dnsmessage.Header{ID: 0xbeef, Response: true}, false, a("example.com.")),
	}, {
		name: "empty",
		req:  nil,
	}, {
		name: "short-garbage",
		req:  []byte("\xbe\xef\x01"),
	}, {
		name:      "garbage-after-header",
		req:       append([]byte{0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, "\xff\xff\xff\xff"...),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeFormatError, false)},
		wantQuery: Query{Client: testClient, Rcode: "FORMERR"},
	}, {
		name:      "label-too-long",
		req:       rawRequest(0xbeef, label63+"a", "com"),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeFormatError, false)},
		wantQuery: Query{Client: testClient, Rcode: "FORMERR"},
	}, {
		name:      "name-too-long",
		req:       rawRequest(0xbeef, label63, label63, label63, label63, "com"),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeFormatError, false)},
		wantQuery: Query{Client: testClient, Rcode: "FORMERR"},
	}, {
		name:      "dot-inside-label",
		req:       rawRequest(0xbeef, "example.com"),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeFormatError, false)},
		wantQuery: Query{Client: testClient, Rcode: "FORMERR"},
	}, {
		name:      "longest-label",
		req:       request(t, rd, false, a(label63+".com.")),
		want:      &dnsmessage.Message{Header: reply(0, true), Questions: []dnsmessage.Question{a(label63 + ".com.")}, Answers: []dnsmessage.Resource{aRecord(label63+".com.", testAnswer)}},
		wantQuery: Query{Client: testClient, Name: label63 + ".com", Type: "A", Allowed: true, Rcode: "NOERROR"},
	}, {
		name:      "underscore",
		req:       request(t, rd, false, a("ex_ample.com.")),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{a("ex_ample.com.")}},
		wantQuery: nx("ex_ample.com", "A"),
	}, {
		name:      "space",
		req:       rawRequest(0xbeef, "a b", "com"),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{a("a b.com.")}},
		wantQuery: nx("a b.com", "A"),
	}, {
		name:      "nul-byte",
		req:       rawRequest(0xbeef, "nul\x00", "com"),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{a("nul\x00.com.")}},
		wantQuery: nx("nul\x00.com", "A"),
	}, {
		name:      "non-ascii",
		req:       rawRequest(0xbeef, "bücher", "com"),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{a("bücher.com.")}},
		wantQuery: nx("bücher.com", "A"),
	}, {
		name:      "root",
		req:       request(t, rd, false, question(".", dnsmessage.TypeNS)),
		want:      &dnsmessage.Message{Header: reply(dnsmessage.RCodeNameError, true), Questions: []dnsmessage.Question{question(".", dnsmessage.TypeNS)}},
		wantQuery: nx("", "NS"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Query
			s := New(Config{
				Allow:   testAllow,
				Answer:  func(netip.Addr) netip.Addr { return testAnswer },
				OnQuery: func(q Query) { got = append(got, q) },
			})
			resp := s.Handle(testClient, tt.req)
			if tt.want == nil {
				if resp != nil || len(got) != 0 {
					t.Fatalf("Handle(%q) = %q with queries %v, want dropped", tt.req, resp, got)
				}
				return
			}
			var m dnsmessage.Message
			if err := m.Unpack(resp); err != nil {
				t.Fatalf("unpacking response %q: %v", resp, err)
			}
			if diff := cmp.Diff(tt.want, &m, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Handle() response mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]Query{tt.wantQuery}, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("OnQuery mismatch (-want +got):\n%s", diff)
			}
			if len(resp) > maxUDPResponse {
				t.Errorf("response is %d bytes, want at most %d", len(resp), maxUDPResponse)
			}
		})
	}
}
