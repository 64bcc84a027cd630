package dnsgate

import (
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// answerTTL is the TTL of A answers, in seconds. It is short so that a
	// policy change reaches the agent's resolver cache quickly.
	answerTTL = 30
	// ednsPayload is the UDP payload size advertised in OPT records.
	ednsPayload = 1232
	// maxUDPResponse is the classic DNS UDP limit. A response holds at most
	// one question (name ≤ 255 bytes), one compressed A record and one OPT
	// record, so it always fits.
	maxUDPResponse = 512
)

// response is a reply under construction.
type response struct {
	hdr      dnsmessage.Header
	question *dnsmessage.Question // echoed when the request had exactly one
	a        netip.Addr           // the A answer, if valid
	edns     bool                 // the request carried an OPT record
}

// Handle answers one DNS request that arrived from client and returns the
// wire-format response. It returns nil when the request must be dropped:
// its header cannot be parsed, or it is itself a response. Handle never
// forwards anything; it is used by both transports.
func (s *Server) Handle(client netip.Addr, req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil
	}
	r := response{hdr: dnsmessage.Header{
		ID:               h.ID,
		Response:         true,
		OpCode:           h.OpCode,
		RecursionDesired: h.RecursionDesired,
	}}
	if qs, err := p.AllQuestions(); err == nil && len(qs) == 1 {
		r.question = &qs[0]
		r.edns = hasOPT(&p)
	}

	q := Query{Client: client}
	valid := false
	if r.question != nil {
		q.Type = typeName(r.question.Type)
		q.Name, valid = hostname(r.question.Name.String())
	}
	switch {
	case h.OpCode != 0:
		r.hdr.RCode = dnsmessage.RCodeNotImplemented
	case r.question == nil, r.question.Class != dnsmessage.ClassINET:
		r.hdr.RCode = dnsmessage.RCodeFormatError
	default:
		q.Allowed = valid && s.allow(q.Name)
		s.resolve(&r, client, q.Allowed)
	}

	out, err := r.pack()
	if err != nil {
		s.log.Error("packing dns response", "name", q.Name, "err", err)
		out, r.hdr.RCode = serverFailure(r.hdr)
	}
	q.Rcode = rcodeName(r.hdr.RCode)
	s.log.Debug("dns query", "client", client, "name", q.Name, "type", q.Type, "allowed", q.Allowed, "rcode", q.Rcode)
	if s.onQuery != nil {
		s.onQuery(q)
	}
	return out
}

// resolve fills in the answer for a well-formed query.
//
// Security: an unlisted name is NXDOMAIN, never forwarded. An allowed name
// only ever resolves to the sidecar's own address; every type but A gets an
// empty answer (NODATA).
func (s *Server) resolve(r *response, client netip.Addr, allowed bool) {
	r.hdr.Authoritative = true
	if !allowed {
		r.hdr.RCode = dnsmessage.RCodeNameError
		return
	}
	if r.question.Type != dnsmessage.TypeA {
		return
	}
	r.a = s.answerFor(client)
	if !r.a.IsValid() {
		s.log.Error("no ipv4 address to answer with", "client", client)
		r.hdr.Authoritative = false
		r.hdr.RCode = dnsmessage.RCodeServerFailure
	}
}

func (r *response) pack() ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, maxUDPResponse), r.hdr)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if r.question != nil {
		if err := b.Question(*r.question); err != nil {
			return nil, err
		}
	}
	if r.a.IsValid() {
		if err := b.StartAnswers(); err != nil {
			return nil, err
		}
		rh := dnsmessage.ResourceHeader{Name: r.question.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: answerTTL}
		if err := b.AResource(rh, dnsmessage.AResource{A: r.a.As4()}); err != nil {
			return nil, err
		}
	}
	if r.edns {
		if err := b.StartAdditionals(); err != nil {
			return nil, err
		}
		var rh dnsmessage.ResourceHeader
		if err := rh.SetEDNS0(ednsPayload, dnsmessage.RCodeSuccess, false); err != nil {
			return nil, err
		}
		if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// serverFailure returns a bare SERVFAIL response for hdr, or nil when even
// that cannot be packed.
func serverFailure(hdr dnsmessage.Header) ([]byte, dnsmessage.RCode) {
	hdr.Authoritative = false
	hdr.RCode = dnsmessage.RCodeServerFailure
	m := dnsmessage.Message{Header: hdr}
	out, err := m.Pack()
	if err != nil {
		return nil, hdr.RCode
	}
	return out, hdr.RCode
}

// hasOPT reports whether the rest of the message carries an OPT record in
// its additional section. p must be positioned after the questions.
// Malformed trailing sections are ignored: they never affect the answer.
func hasOPT(p *dnsmessage.Parser) bool {
	if p.SkipAllAnswers() != nil || p.SkipAllAuthorities() != nil {
		return false
	}
	for {
		h, err := p.AdditionalHeader()
		if err != nil {
			return false
		}
		if h.Type == dnsmessage.TypeOPT {
			return true
		}
		if p.SkipAdditional() != nil {
			return false
		}
	}
}

// hostname lowercases name (ASCII only) and strips one trailing dot. It
// reports whether the result is a valid host name: 1 to 253 bytes of
// non-empty labels of at most 63 letters, digits and hyphens. Anything else
// is never allowed, whatever the policy says.
func hostname(name string) (string, bool) {
	b := []byte(strings.TrimSuffix(name, "."))
	valid := len(b) > 0 && len(b) <= 253
	label := 0
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
			label++
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
			label++
		case c == '.':
			if label == 0 {
				valid = false
			}
			label = 0
		default:
			valid = false
		}
		if label > 63 {
			valid = false
		}
	}
	return string(b), valid && label > 0
}

// typeName returns the mnemonic of t, or TYPEn (RFC 3597) for unknown types.
func typeName(t dnsmessage.Type) string {
	if t == dnsmessage.TypeALL {
		return "ANY"
	}
	s := t.String()
	if rest, ok := strings.CutPrefix(s, "Type"); ok {
		return rest
	}
	return "TYPE" + s
}

// rcodeName returns the mnemonic of rc.
func rcodeName(rc dnsmessage.RCode) string {
	switch rc {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	default:
		return "RCODE" + strconv.Itoa(int(rc))
	}
}
