//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

var (
	typeNumbers = map[string]uint16{
		"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
		"AAAA": 28, "SRV": 33, "SVCB": 64, "HTTPS": 65, "ANY": 255,
	}
	rcodeNames = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}
)

// parseType reads a record type: a name such as "A", "TYPE65" or a number.
func parseType(s string) (uint16, error) {
	if t, ok := typeNumbers[strings.ToUpper(s)]; ok {
		return t, nil
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(s), "TYPE"), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("unknown DNS type %q", s)
	}
	return uint16(n), nil
}

func typeString(t uint16) string {
	for name, n := range typeNumbers {
		if n == t {
			return name
		}
	}
	return fmt.Sprintf("TYPE%d", t)
}

// probeDNS sends one query for name and qtype to server (default: the
// first nameserver of /etc/resolv.conf) over UDP, and again over TCP if
// the answer was truncated. Only NOERROR with answers counts as reached.
func probeDNS(ctx context.Context, name string, qtype uint16, server string) hits.ProbeResult {
	r := hits.ProbeResult{Op: hits.OpDNS}
	var err error
	if server == "" {
		server, err = resolvConfServer("/etc/resolv.conf")
	}
	r.Target = fmt.Sprintf("%s %s @%s", name, typeString(qtype), server)
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	q, err := buildQuery(name, qtype)
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	transport := "udp"
	resp, err := exchangeDNS(ctx, "udp", server, q)
	if err == nil && resp[2]&0x02 != 0 {
		transport = "tcp"
		resp, err = exchangeDNS(ctx, "tcp", server, q)
	}
	if err != nil {
		r.Detail = fmt.Sprintf("%s %s: %s", transport, server, errDetail(err))
		return r
	}
	rcode, answers, err := parseResponse(resp)
	if err != nil {
		r.Detail = fmt.Sprintf("%s %s: %v", transport, server, err)
		return r
	}
	r.Reached = rcode == "NOERROR" && len(answers) > 0
	r.Detail = fmt.Sprintf("rcode=%s answers=[%s] via %s %s", rcode, strings.Join(answers, ", "), transport, server)
	return r
}

// resolvConfServer returns the first nameserver of a resolv.conf file, with
// port 53.
func resolvConfServer(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "nameserver" {
			return net.JoinHostPort(f[1], "53"), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return "", fmt.Errorf("no nameserver in %s", path)
}

// buildQuery builds a recursive query for name (IN class, no EDNS).
func buildQuery(name string, qtype uint16) ([]byte, error) {
	q := make([]byte, 2, 512)
	if _, err := rand.Read(q); err != nil {
		return nil, err
	}
	q = append(q, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD; one question
	if name = strings.TrimSuffix(name, "."); name != "" {
		for l := range strings.SplitSeq(name, ".") {
			if l == "" || len(l) > 63 {
				return nil, fmt.Errorf("bad DNS name %q", name)
			}
			q = append(q, byte(len(l))) //nolint:gosec // G115: len(l) <= 63, checked above.
			q = append(q, l...)
		}
	}
	if len(q) > 12+254 {
		return nil, fmt.Errorf("DNS name %q is too long", name)
	}
	q = append(q, 0)
	q = binary.BigEndian.AppendUint16(q, qtype)
	return binary.BigEndian.AppendUint16(q, 1), nil
}

// exchangeDNS sends q to server and returns the response with q's ID.
func exchangeDNS(ctx context.Context, network, server string, q []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	if network == "udp" {
		if _, err := c.Write(q); err != nil {
			return nil, err
		}
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return nil, err
			}
			if n >= 12 && buf[0] == q[0] && buf[1] == q[1] {
				return buf[:n], nil
			}
		}
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil { //nolint:gosec // G115: a query is under 300 bytes.
		return nil, err
	}
	var n uint16
	if err := binary.Read(c, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	resp := make([]byte, n)
	if _, err := io.ReadFull(c, resp); err != nil {
		return nil, err
	}
	if n < 12 || resp[0] != q[0] || resp[1] != q[1] {
		return nil, errors.New("response does not match the query")
	}
	return resp, nil
}

var errShort = errors.New("truncated DNS response")

// parseResponse returns the rcode of resp and its answers, each as
// "TYPE data".
func parseResponse(resp []byte) (string, []string, error) {
	if len(resp) < 12 {
		return "", nil, errShort
	}
	rcode := fmt.Sprintf("RCODE%d", resp[3]&0x0f)
	if int(resp[3]&0x0f) < len(rcodeNames) {
		rcode = rcodeNames[resp[3]&0x0f]
	}
	qd, an := binary.BigEndian.Uint16(resp[4:]), binary.BigEndian.Uint16(resp[6:])
	off := 12
	for range qd {
		_, next, err := readName(resp, off)
		if err != nil {
			return rcode, nil, err
		}
		off = next + 4
	}
	var answers []string
	for range an {
		_, next, err := readName(resp, off)
		if err != nil {
			return rcode, answers, err
		}
		if next+10 > len(resp) {
			return rcode, answers, errShort
		}
		typ := binary.BigEndian.Uint16(resp[next:])
		rdlen := int(binary.BigEndian.Uint16(resp[next+8:]))
		start := next + 10
		if start+rdlen > len(resp) {
			return rcode, answers, errShort
		}
		answers = append(answers, typeString(typ)+" "+rdataString(resp, typ, start, rdlen))
		off = start + rdlen
	}
	return rcode, answers, nil
}

func rdataString(msg []byte, typ uint16, start, n int) string {
	rd := msg[start : start+n]
	switch {
	case typ == 1 && n == 4, typ == 28 && n == 16:
		return net.IP(rd).String()
	case typ == 2 || typ == 5 || typ == 12:
		if name, _, err := readName(msg, start); err == nil {
			return name
		}
	case typ == 16:
		var parts []string
		for len(rd) > 0 && int(rd[0]) < len(rd) {
			parts = append(parts, strconv.Quote(string(rd[1:1+rd[0]])))
			rd = rd[1+rd[0]:]
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("(%d bytes)", n)
}

// readName reads the possibly compressed name at off in msg and returns
// it and the offset just past it.
func readName(msg []byte, off int) (string, int, error) {
	var labels []string
	next := -1
	for hops := 0; ; {
		if off >= len(msg) {
			return "", 0, errShort
		}
		l := int(msg[off])
		switch {
		case l == 0:
			if next < 0 {
				next = off + 1
			}
			return strings.Join(labels, ".") + ".", next, nil
		case l&0xc0 == 0xc0:
			if off+1 >= len(msg) || hops > 64 {
				return "", 0, errShort
			}
			if next < 0 {
				next = off + 2
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			hops++
		case l > 63 || off+1+l > len(msg):
			return "", 0, errShort
		default:
			labels = append(labels, string(msg[off+1:off+1+l]))
			off += 1 + l
		}
	}
}
