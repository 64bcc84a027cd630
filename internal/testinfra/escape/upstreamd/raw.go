package main

import (
	"errors"
	"net"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// ioTimeout bounds every read and write on a raw connection.
const ioTimeout = 5 * time.Second

func tcpHit(c net.Conn) hits.Hit {
	return hits.Hit{Proto: hits.ProtoTCP, Port: port(c.LocalAddr()), Remote: c.RemoteAddr().String()}
}

// hello greets a raw TCP connection; it was recorded when accepted.
func (s *server) hello(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, _ = c.Write([]byte("hello\n"))
}

// echo records every datagram on pc and sends it back.
func (s *server) echo(pc net.PacketConn) {
	buf := make([]byte, 64<<10)
	p := port(pc.LocalAddr())
	for {
		n, from, err := pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			s.log.Warn("udp read", "port", p, "err", err.Error())
			continue
		}
		body, cut := clip(buf[:n])
		s.rec.add(hits.Hit{Proto: hits.ProtoUDP, Port: p, Remote: from.String(), Body: body, BodyTruncated: cut})
		_ = pc.SetWriteDeadline(time.Now().Add(ioTimeout))
		_, _ = pc.WriteTo(buf[:n], from)
	}
}

// recordICMP records echo requests from a raw ICMP socket, if it can open
// one (it needs root or CAP_NET_RAW). The kernel answers them itself.
func (s *server) recordICMP() {
	pc, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		s.log.Warn("icmp recording off", "err", err.Error())
		return
	}
	if !s.track(pc) {
		return
	}
	s.rec.setICMP(true)
	s.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			// The IPv4 header is already stripped.
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				s.log.Warn("icmp read", "err", err.Error())
				continue
			}
			const echoRequest = 8
			if n < 8 || buf[0] != echoRequest {
				continue
			}
			body, cut := clip(buf[8:n])
			s.rec.add(hits.Hit{Proto: hits.ProtoICMP, Remote: from.String(), Body: body, BodyTruncated: cut})
		}
	})
}

// clip returns at most hits.MaxBody bytes of b and whether it cut any.
func clip(b []byte) (string, bool) {
	if len(b) > hits.MaxBody {
		return string(b[:hits.MaxBody]), true
	}
	return string(b), false
}
