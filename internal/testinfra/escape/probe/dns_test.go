//go:build linux

package main

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDNS answers on loopback UDP and TCP (same port). Over UDP it sets
// TC for names starting "big", so the probe retries over TCP; it answers
// "missing.test" with NXDOMAIN, and every other name with a CNAME, an A
// and a TXT record, using compression.
func fakeDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	answer := func(q []byte, udp bool) []byte {
		name, _, _ := readName(q, 12)
		resp := append([]byte(nil), q[:2]...)
		flags, an := byte(0x81), uint16(3)
		switch {
		case name == "missing.test.":
			resp = append(resp, flags, 0x83)
			an = 0
		case udp && strings.HasPrefix(name, "big"):
			resp = append(resp, flags|0x02, 0x80)
			an = 0
		default:
			resp = append(resp, flags, 0x80)
		}
		resp = append(resp, 0, 1, byte(an>>8), byte(an), 0, 0, 0, 0)
		resp = append(resp, q[12:]...)
		if an == 0 {
			return resp
		}
		// CNAME to "www" + pointer to the question name.
		resp = append(resp, 0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, 'w', 'w', 'w', 0xc0, 12)
		resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7)
		return append(resp, 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 5, 4, 'l', 'e', 'a', 'k')
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(answer(buf[:n], true), from)
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var n uint16
			if binary.Read(c, binary.BigEndian, &n) == nil {
				q := make([]byte, n)
				if _, err := io.ReadFull(c, q); err == nil {
					resp := answer(q, false)
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(resp))), resp...))
				}
			}
			c.Close()
		}
	}()
	return pc.LocalAddr().String()
}

func TestDNS(t *testing.T) {
	server := fakeDNS(t)
	for _, tc := range []struct {
		name, qtype string
		reached     bool
		detail      string
	}{
		{"api.allowed.test", "A", true, `rcode=NOERROR answers=[CNAME www.api.allowed.test., A 10.9.8.7, TXT "leak"] via udp`},
		{"big.test", "TXT", true, `via tcp`},
		{"missing.test", "A", false, `rcode=NXDOMAIN answers=[] via udp`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qtype, err := parseType(tc.qtype)
			if err != nil {
				t.Fatal(err)
			}
			r := probeDNS(t.Context(), tc.name, qtype, server)
			if r.Reached != tc.reached || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("probeDNS(%s %s) = %+v, want reached %v and detail containing %q", tc.name, tc.qtype, r, tc.reached, tc.detail)
			}
		})
	}
	if r := probeDNS(t.Context(), "a.test", 1, closedAddr(t, "udp")); r.Reached {
		t.Errorf("probeDNS(closed) = %+v, want not reached", r)
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]uint16{"A": 1, "aaaa": 28, "TXT": 16, "TYPE65": 65, "99": 99} {
		if got, err := parseType(in); err != nil || got != want {
			t.Errorf("parseType(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseType("BOGUS"); err == nil {
		t.Error("parseType(BOGUS) succeeded")
	}
}

func TestBuildQuery(t *testing.T) {
	q, err := buildQuery("a.test.", 16)
	if err != nil {
		t.Fatal(err)
	}
	want := "\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x10\x00\x01"
	if string(q[2:]) != want {
		t.Errorf("buildQuery = %q, want %q after the ID", q[2:], want)
	}
	for _, bad := range []string{"a..test", strings.Repeat("x", 64) + ".test", strings.Repeat("abcdefgh.", 32)} {
		if _, err := buildQuery(bad, 1); err == nil {
			t.Errorf("buildQuery(%q) succeeded", bad)
		}
	}
}

func TestParseResponseLoop(t *testing.T) {
	// One answer whose name points at itself.
	resp := []byte{0, 0, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12}
	if _, _, err := parseResponse(resp); err == nil {
		t.Error("parseResponse(pointer loop) succeeded")
	}
}

func TestResolvConfServer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# x\nsearch test\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"), 0o644)
	if got, err := resolvConfServer(p); err != nil || got != "10.0.0.2:53" {
		t.Errorf("resolvConfServer = %q, %v; want 10.0.0.2:53", got, err)
	}
	os.WriteFile(p, []byte("nameserver fd00::1\n"), 0o644)
	if got, _ := resolvConfServer(p); got != "[fd00::1]:53" {
		t.Errorf("resolvConfServer(v6) = %q", got)
	}
	os.WriteFile(p, []byte("search test\n"), 0o644)
	if _, err := resolvConfServer(p); err == nil {
		t.Error("resolvConfServer(no nameserver) succeeded")
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0, 0, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = parseResponse(b)
	})
}
