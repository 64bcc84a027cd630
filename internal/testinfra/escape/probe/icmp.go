//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

const (
	icmpEchoReply   = 0
	icmpEchoRequest = 8
	// echoSeq is the sequence number of the probe's one echo request.
	echoSeq = 1
)

// probeICMP sends one echo request to dst over an unprivileged ICMP
// datagram socket and one over a raw socket, and reports both: reached
// if either got an echo reply.
func probeICMP(ctx context.Context, dst net.IP) hits.ProbeResult {
	r := hits.ProbeResult{Op: hits.OpICMP, Target: dst.String()}
	dOK, dDetail := pingDgram(ctx, dst)
	rOK, rDetail := pingRaw(ctx, dst)
	r.Reached = dOK || rOK
	r.Detail = fmt.Sprintf("dgram: %s; raw: %s", dDetail, rDetail)
	return r
}

// pingDgram pings over socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), which
// Linux allows to groups in net.ipv4.ping_group_range. The kernel sets
// the echo identifier and only delivers replies to it.
func pingDgram(ctx context.Context, dst net.IP) (bool, string) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, syscall.IPPROTO_ICMP)
	if err != nil {
		return false, "socket: " + err.Error()
	}
	f := os.NewFile(uintptr(fd), "icmp-dgram")
	pc, err := net.FilePacketConn(f)
	_ = f.Close() // pc holds its own descriptor
	if err != nil {
		return false, "socket: " + err.Error()
	}
	defer func() { _ = pc.Close() }()
	return exchange(ctx, pc, &net.UDPAddr{IP: dst}, 0, false)
}

// pingRaw pings over a raw ip4:icmp socket, which needs CAP_NET_RAW. The
// socket sees every ICMP message, so replies are matched on identifier.
func pingRaw(ctx context.Context, dst net.IP) (bool, string) {
	pc, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return false, err.Error()
	}
	defer func() { _ = pc.Close() }()
	return exchange(ctx, pc, &net.IPAddr{IP: dst}, uint16(os.Getpid()), true) //nolint:gosec // G115: the identifier is the pid's low 16 bits on purpose.
}

// exchange sends one echo request to dst on pc and waits for its reply.
func exchange(ctx context.Context, pc net.PacketConn, dst net.Addr, id uint16, checkID bool) (bool, string) {
	deadline := time.Now().Add(attemptTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = pc.SetDeadline(deadline)
	if _, err := pc.WriteTo(echoRequest(id, echoSeq, []byte("probe")), dst); err != nil {
		return false, "send: " + errDetail(err)
	}
	want := addrIP(dst)
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return false, "no echo reply: " + errDetail(err)
		}
		if addrIP(from).Equal(want) && isEchoReply(buf[:n], id, echoSeq, checkID) {
			return true, "echo reply from " + want.String()
		}
	}
}

func addrIP(a net.Addr) net.IP {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP
	case *net.IPAddr:
		return a.IP
	}
	return nil
}

// echoRequest builds an ICMP echo request message.
func echoRequest(id, seq uint16, data []byte) []byte {
	b := []byte{icmpEchoRequest, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, seq)
	b = append(b, data...)
	binary.BigEndian.PutUint16(b[2:], checksum(b))
	return b
}

// isEchoReply reports whether b, an ICMP message without its IP header,
// is the echo reply with seq, and with id when checkID.
func isEchoReply(b []byte, id, seq uint16, checkID bool) bool {
	return len(b) >= 8 && b[0] == icmpEchoReply && b[1] == 0 &&
		(!checkID || binary.BigEndian.Uint16(b[4:]) == id) &&
		binary.BigEndian.Uint16(b[6:]) == seq
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
