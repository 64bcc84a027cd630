package dnsgate

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// FuzzHandle checks that Handle never panics, and that every response it
// returns parses, echoes the request ID, and fits in a UDP datagram.
func FuzzHandle(f *testing.F) {
	rd := dnsmessage.Header{ID: 0x1234, RecursionDesired: true}
	a := question("example.com.", dnsmessage.TypeA)
	for _, seed := range [][]byte{
		request(f, rd, false, a),
		request(f, rd, true, a),
		request(f, rd, false, question("EXAMPLE.com.", dnsmessage.TypeAAAA)),
		request(f, rd, false, question("x.evil.example.", dnsmessage.TypeTXT)),
		request(f, rd, false, a, question("evil.example.", dnsmessage.TypeA)),
		request(f, dnsmessage.Header{ID: 9, OpCode: 2}, false, a),
		request(f, rd, false, dnsmessage.Question{Name: a.Name, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassCHAOS}),
		rawRequest(3, "a b", "com"),
		rawRequest(3, "example.com"),
		rawRequest(3, label63, label63, label63, label63),
		{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0xc0, 0x0c},
		{},
		[]byte("\x00"),
	} {
		f.Add(seed)
	}
	s := New(Config{Allow: testAllow, Answer: func(netip.Addr) netip.Addr { return testAnswer }})
	f.Fuzz(func(t *testing.T, req []byte) {
		resp := s.Handle(testClient, req)
		if resp == nil {
			return
		}
		var m dnsmessage.Message
		if err := m.Unpack(resp); err != nil {
			t.Fatalf("Handle(%q) = %q, which does not parse: %v", req, resp, err)
		}
		var p dnsmessage.Parser
		h, err := p.Start(req)
		if err != nil {
			t.Fatalf("Handle(%q) answered a request whose header does not parse: %v", req, err)
		}
		if m.ID != h.ID || !m.Response {
			t.Errorf("Handle(%q) = ID %d response %v, want ID %d response true", req, m.ID, m.Response, h.ID)
		}
		if m.RecursionAvailable || len(m.Answers) > 1 || len(m.Authorities) > 0 {
			t.Errorf("Handle(%q) = %+v, want no recursion and at most one answer", req, m)
		}
		// Security: only an allowed host name gets an answer, and only the
		// configured address.
		if len(m.Answers) == 1 {
			name, valid := hostname(m.Questions[0].Name.String())
			body, ok := m.Answers[0].Body.(*dnsmessage.AResource)
			if !valid || !testAllow(name) || !ok || netip.AddrFrom4(body.A) != testAnswer {
				t.Errorf("Handle(%q) answered %v for %q", req, m.Answers[0], name)
			}
		}
		if len(resp) > maxUDPResponse {
			t.Errorf("Handle(%q) = %d bytes, want at most %d", req, len(resp), maxUDPResponse)
		}
	})
}
