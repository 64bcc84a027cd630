package main

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// query builds a DNS query with id 0x4242 and RD set.
func query(name string, qtype uint16) []byte {
	msg := []byte{0x42, 0x42, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for l := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		msg = append(msg, byte(len(l)))
		msg = append(msg, l...)
	}
	msg = append(msg, 0)
	msg = binary.BigEndian.AppendUint16(msg, qtype)
	return binary.BigEndian.AppendUint16(msg, 1)
}

func exchangeUDP(t *testing.T, addr net.Addr, q []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func exchangeTCP(t *testing.T, addr net.Addr, q []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		t.Fatal(err)
	}
	var n uint16
	if err := binary.Read(c, binary.BigEndian, &n); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(c, resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// rdata checks resp answers q with one record and returns its data.
func rdata(t *testing.T, q, resp []byte) []byte {
	t.Helper()
	if len(resp) < len(q)+12 || resp[0] != 0x42 || resp[1] != 0x42 || resp[2]&0x80 == 0 || resp[3]&0x0f != 0 ||
		binary.BigEndian.Uint16(resp[6:]) != 1 || string(resp[12:len(q)]) != string(q[12:]) {
		t.Fatalf("response %x does not answer %x with one record", resp, q)
	}
	rr := resp[len(q):]
	if rr[0] != 0xc0 || rr[1] != 12 || string(rr[2:4]) != string(q[len(q)-4:len(q)-2]) {
		t.Fatalf("answer %x: wrong name or type", rr)
	}
	n := binary.BigEndian.Uint16(rr[10:])
	return rr[12 : 12+n]
}

func TestDNS(t *testing.T) {
	s, control := startTest(t, nil, net.IPv4(10, 1, 2, 3))
	qa := query("API.Allowed.Test.", typeA)
	if got := net.IP(rdata(t, qa, exchangeUDP(t, s.dnsUDPAddr, qa))); !got.Equal(net.IPv4(10, 1, 2, 3)) {
		t.Errorf("A over udp = %v, want 10.1.2.3", got)
	}
	// Over TCP the answer is the connection's own address.
	if got := net.IP(rdata(t, qa, exchangeTCP(t, s.dnsTCPAddr, qa))); !got.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("A over tcp = %v, want 127.0.0.1", got)
	}
	qt := query("other.test", typeTXT)
	if got := string(rdata(t, qt, exchangeUDP(t, s.dnsUDPAddr, qt))); got != "\x04leak" {
		t.Errorf("TXT = %q, want leak", got)
	}
	qaaaa := query("other.test", typeAAAA)
	if resp := exchangeUDP(t, s.dnsUDPAddr, qaaaa); resp[3]&0x0f != 0 || binary.BigEndian.Uint16(resp[6:]) != 0 {
		t.Errorf("AAAA response %x, want NOERROR with no answer", resp)
	}
	bad := []byte{0x42, 0x42, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c}
	if resp := exchangeUDP(t, s.dnsUDPAddr, bad); len(resp) != 12 || resp[3]&0x0f != 1 {
		t.Errorf("malformed query got %x, want FORMERR", resp)
	}

	hs := only(t, fetch(t, control), hits.ProtoDNS, 5)
	want := []struct{ name, typ, transport string }{
		{"api.allowed.test", "A", "udp"},
		{"api.allowed.test", "A", "tcp"},
		{"other.test", "TXT", "udp"},
		{"other.test", "AAAA", "udp"},
		{"", "", "udp"},
	}
	for i, w := range want {
		h := hs[i]
		if h.DNSName != w.name || h.DNSType != w.typ || h.Transport != w.transport || !strings.HasPrefix(h.Remote, "127.0.0.1:") {
			t.Errorf("dns hit %d = %+v, want %v", i, h, w)
		}
	}
	if hs[0].Port != port(s.dnsUDPAddr) || hs[1].Port != port(s.dnsUDPAddr) || string(hs[4].RawBody()) != string(bad) {
		t.Errorf("dns hits = %+v", hs)
	}
}

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"short", []byte{1, 2, 3}, false},
		{"response", append([]byte{0, 0, 0x80}, query("a.test", 1)[3:]...), false},
		{"two-questions", append([]byte{0, 0, 0, 0, 0, 2}, query("a.test", 1)[6:]...), false},
		{"truncated-name", query("a.test", 1)[:15], false},
		{"no-type", query("a.test", 1)[:20], false},
		{"long-label", query(strings.Repeat("x", 64), 1), false},
		{"root", query("", 2), true},
		{"ok", query("a.test", 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseQuery(tc.msg)
			if (err == nil) != tc.ok {
				t.Errorf("parseQuery(%x) = %v, want ok %v", tc.msg, err, tc.ok)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add(query("a.test", 1))
	f.Add([]byte{0x42, 0x42, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c})
	f.Fuzz(func(t *testing.T, msg []byte) {
		q, err := parseQuery(msg)
		resp := respond(msg, q, err, net.IPv4(10, 0, 0, 1))
		if len(msg) >= 12 && msg[2]&0x80 == 0 && len(resp) < 12 {
			t.Errorf("respond(%x) = %x, want a header at least", msg, resp)
		}
	})
}
