package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// DNS record types upstreamd answers.
const (
	typeA    = 1
	typeTXT  = 16
	typeAAAA = 28
)

// typeNames names the record types a Hit reports; others are "TYPE<n>".
var typeNames = map[uint16]string{
	1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
	28: "AAAA", 33: "SRV", 64: "SVCB", 65: "HTTPS", 255: "ANY",
}

func typeName(t uint16) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("TYPE%d", t)
}

// serveDNS answers queries on addr over UDP and TCP, on the port the UDP
// listener got (so it fails if addr's port is 0 and that TCP port is
// taken). Every A query gets the server's own address,
// every TXT query "leak": it must be visibly reachable.
func (s *server) serveDNS(addr string, answer net.IP) error {
	pc, err := s.listenUDP(addr)
	if err != nil {
		return err
	}
	s.dnsUDPAddr = pc.LocalAddr()
	s.dnsIP = answerIP(answer, s.dnsUDPAddr)
	ln, err := s.listenTCP(s.dnsUDPAddr.String())
	if err != nil {
		return err
	}
	s.dnsTCPAddr = ln.Addr()
	s.wg.Go(func() { s.dnsUDP(pc) })
	s.wg.Go(func() { s.acceptLoop(ln, s.dnsTCP) })
	return nil
}

// answerIP picks the address A queries get: the one configured, else the
// listener's, else the first non-loopback IPv4 address of the host.
func answerIP(configured net.IP, bound net.Addr) net.IP {
	if ip := configured.To4(); ip != nil {
		return ip
	}
	if ua, ok := bound.(*net.UDPAddr); ok && ua.IP.To4() != nil && !ua.IP.IsUnspecified() {
		return ua.IP.To4()
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.To4()
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

func (s *server) dnsUDP(pc net.PacketConn) {
	buf := make([]byte, 64<<10)
	p := port(pc.LocalAddr())
	for {
		n, from, err := pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.log.Warn("dns read", "err", err.Error())
			continue
		}
		resp := s.dnsAnswer(buf[:n], s.dnsIP, hits.Hit{Proto: hits.ProtoDNS, Port: p, Remote: from.String(), Transport: "udp"})
		if resp != nil {
			_ = pc.SetWriteDeadline(time.Now().Add(ioTimeout))
			_, _ = pc.WriteTo(resp, from)
		}
	}
}

// dnsTCP answers length-prefixed queries on c until it idles.
func (s *server) dnsTCP(c net.Conn) {
	ip := s.dnsIP
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok && ta.IP.To4() != nil && !ta.IP.IsUnspecified() {
		ip = ta.IP.To4()
	}
	for range 100 {
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		resp := s.dnsAnswer(msg, ip, hits.Hit{Proto: hits.ProtoDNS, Port: port(c.LocalAddr()), Remote: c.RemoteAddr().String(), Transport: "tcp"})
		if resp == nil {
			return
		}
		if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(resp)))); err != nil { //nolint:gosec // G115: a response holds one question of at most 255 bytes and one short record.
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// dnsAnswer records the query msg as h and returns the response, or nil
// when msg is too short to answer or is itself a response.
func (s *server) dnsAnswer(msg []byte, ip net.IP, h hits.Hit) []byte {
	q, err := parseQuery(msg)
	if err == nil {
		h.DNSName, h.DNSType = q.name, typeName(q.qtype)
	} else {
		h.Body, h.BodyTruncated = clip(msg)
	}
	s.rec.add(h)
	return respond(msg, q, err, ip)
}

// question is the one question of a query.
type question struct {
	name   string // lower case, no final dot; "" for the root
	qtype  uint16
	qclass uint16
	end    int // offset just past the question in the message
}

const headerLen = 12

var errFormat = errors.New("malformed DNS query")

// parseQuery parses the header and question of a query holding exactly
// one question with an uncompressed name.
func parseQuery(msg []byte) (question, error) {
	if len(msg) < headerLen || binary.BigEndian.Uint16(msg[4:]) != 1 || msg[2]&0x80 != 0 {
		return question{}, errFormat
	}
	var labels []string
	i, total := headerLen, 0
	for {
		if i >= len(msg) {
			return question{}, errFormat
		}
		l := int(msg[i])
		i++
		if l == 0 {
			break
		}
		total += l + 1
		if l > 63 || i+l > len(msg) || total > 255 {
			return question{}, errFormat
		}
		labels = append(labels, strings.ToLower(string(msg[i:i+l])))
		i += l
	}
	if i+4 > len(msg) {
		return question{}, errFormat
	}
	return question{
		name:   strings.Join(labels, "."),
		qtype:  binary.BigEndian.Uint16(msg[i:]),
		qclass: binary.BigEndian.Uint16(msg[i+2:]),
		end:    i + 4,
	}, nil
}

// respond builds the answer to msg: FORMERR when parsing failed,
// NOTIMP for an opcode other than QUERY, else NOERROR with an A record
// of ip or a TXT record "leak" as the question asks.
func respond(msg []byte, q question, perr error, ip net.IP) []byte {
	if len(msg) < headerLen || msg[2]&0x80 != 0 {
		return nil
	}
	opcode := msg[2] & 0x78
	out := append([]byte(nil), msg[:2]...)          // ID
	out = append(out, 0x80|opcode|0x04|msg[2]&0x01) // QR, opcode, AA, RD
	rcode := byte(0)
	switch {
	case perr != nil:
		rcode = 1
	case opcode != 0:
		rcode = 4
	}
	out = append(out, 0x80|rcode) // RA, rcode
	if rcode != 0 {
		return append(out, make([]byte, 8)...) // no sections
	}
	var rr []byte
	const classIN, ttl = 1, 60
	switch q.qtype {
	case typeA:
		rr = append(rr, ip.To4()...)
	case typeTXT:
		rr = append(rr, 4, 'l', 'e', 'a', 'k')
	}
	ancount := uint16(0)
	if rr != nil && q.qclass == classIN {
		ancount = 1
	}
	out = binary.BigEndian.AppendUint16(out, 1)
	out = binary.BigEndian.AppendUint16(out, ancount)
	out = append(out, 0, 0, 0, 0) // NSCOUNT, ARCOUNT
	out = append(out, msg[headerLen:q.end]...)
	if ancount == 0 {
		return out
	}
	out = append(out, 0xc0, headerLen) // pointer to the question's name
	out = binary.BigEndian.AppendUint16(out, q.qtype)
	out = binary.BigEndian.AppendUint16(out, classIN)
	out = binary.BigEndian.AppendUint32(out, ttl)
	out = binary.BigEndian.AppendUint16(out, uint16(len(rr))) //nolint:gosec // G115: rr is 4 or 5 bytes.
	return append(out, rr...)
}
