package egress

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	wsOpText  = 1
	wsOpClose = 8
)

// wsPolicyViolation is the status of a close frame the proxy sends
// (RFC 6455 section 7.4.1).
const wsPolicyViolation = 1008

// wsScan scans one control frame's payload or one whole message (op is
// the opcode of its first frame). A non-empty replace is sent instead,
// as one new frame; a refusal closes the connection.
type wsScan func(op byte, payload string) (replace string, rf *refusal)

// wsStream parses one direction of a WebSocket connection (RFC 6455
// section 5). It holds back the frames of a message until the message is
// complete and scanned, then releases them unchanged, or re-framed when
// the scan replaced the message.
type wsStream struct {
	// fromClient is set for the agent's direction, whose frames must be
	// masked.
	fromClient bool
	// scan, when unset, lets each frame pass as soon as it is whole.
	scan wsScan

	buf []byte // input not yet parsed into a whole frame
	// held are the raw frames of the message being read (nHeld of
	// them), msg its unmasked payload and msgOp its opcode; inMsg is set
	// between its first and last frame.
	held  []byte
	nHeld int
	msg   strings.Builder
	msgOp byte
	inMsg bool
}

// wsHeader is a parsed frame header.
type wsHeader struct {
	fin    bool
	op     byte
	masked bool
	key    [4]byte
	hdrLen int
	// payload is the payload length, at most maxWSMessage.
	payload int
}

// parseWSHeader parses the frame header at the start of b. It returns
// ok=false when b is too short to hold it, and a refusal for a frame the
// proxy does not pass.
func parseWSHeader(b []byte, fromClient bool) (h wsHeader, ok bool, rf *refusal) {
	if len(b) < 2 {
		return h, false, nil
	}
	h.fin = b[0]&0x80 != 0
	h.op = b[0] & 0x0f
	if b[0]&0x70 != 0 {
		return h, false, refuse(BlockWebSocket, "a WebSocket frame uses an extension (RSV bits set); none is negotiated through the proxy")
	}
	switch h.op {
	case 0, 1, 2, 8, 9, 10:
	default:
		return h, false, refuse(BlockWebSocket, "a WebSocket frame has the reserved opcode %d", h.op)
	}
	h.masked = b[1]&0x80 != 0
	if h.masked != fromClient {
		return h, false, refuse(BlockWebSocket, "a WebSocket frame is masked the wrong way for its direction (RFC 6455 section 5.1)")
	}
	h.hdrLen = 2
	var n uint64
	switch n = uint64(b[1] & 0x7f); n {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		n = uint64(binary.BigEndian.Uint16(b[2:4]))
		h.hdrLen = 4
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		n = binary.BigEndian.Uint64(b[2:10])
		h.hdrLen = 10
	}
	if h.op >= 8 && (!h.fin || n > 125) {
		return h, false, refuse(BlockWebSocket, "a WebSocket control frame is fragmented or longer than 125 bytes")
	}
	if n > maxWSMessage {
		return h, false, refuse(BlockWebSocket, "a WebSocket frame is over %d MiB and cannot be scanned", maxWSMessage>>20)
	}
	h.payload = int(n)
	if h.masked {
		if len(b) < h.hdrLen+4 {
			return h, false, nil
		}
		copy(h.key[:], b[h.hdrLen:h.hdrLen+4])
		h.hdrLen += 4
	}
	return h, true, nil
}

// feed parses p and returns the bytes that may be passed on, and how many
// frames they are: whole control frames, and whole messages once scanned.
// A refusal means the connection must be closed.
func (s *wsStream) feed(p []byte) (release []byte, frames int, rf *refusal) {
	s.buf = append(s.buf, p...)
	for {
		h, ok, rf := parseWSHeader(s.buf, s.fromClient)
		if rf != nil {
			return nil, 0, rf
		}
		if !ok || len(s.buf)-h.hdrLen < h.payload {
			break
		}
		end := h.hdrLen + h.payload
		// Capped, so that appending to a release that is raw copies
		// rather than overwrite what follows it in buf.
		raw := s.buf[:end:end]
		switch {
		case h.op >= 8:
			// Control frames may come between the fragments of a
			// message; each is scanned alone and passed at once.
			if s.scan != nil {
				if _, rf := s.scan(h.op, payloadText(raw[h.hdrLen:], h)); rf != nil {
					return nil, 0, rf
				}
			}
			release = appendRaw(release, raw)
			frames++
		case (h.op == 0) != s.inMsg:
			return nil, 0, refuse(BlockWebSocket, "a WebSocket continuation frame does not continue a message, or a new message interrupts one")
		case s.scan == nil:
			release = appendRaw(release, raw)
			frames++
			s.inMsg = !h.fin
		case h.fin && !s.inMsg:
			// A whole message in one frame: not copied into held.
			out, rf := s.scan(h.op, payloadText(raw[h.hdrLen:], h))
			if rf != nil {
				return nil, 0, rf
			}
			if out != "" {
				release = appendWSFrame(release, h.op, out, s.fromClient)
			} else {
				release = appendRaw(release, raw)
			}
			frames++
		default:
			if s.msg.Len()+h.payload > maxWSMessage {
				return nil, 0, refuse(BlockWebSocket, "a WebSocket message is over %d MiB and cannot be scanned", maxWSMessage>>20)
			}
			if !s.inMsg {
				s.inMsg, s.msgOp = true, h.op
			}
			s.held = append(s.held, raw...)
			s.nHeld++
			appendPayload(&s.msg, raw[h.hdrLen:], h)
			if h.fin {
				out, rf := s.scan(s.msgOp, s.msg.String())
				if rf != nil {
					return nil, 0, rf
				}
				if out != "" {
					release = appendWSFrame(release, s.msgOp, out, s.fromClient)
					frames++
				} else {
					release = append(release, s.held...)
					frames += s.nHeld
				}
				s.held, s.nHeld, s.inMsg = s.held[:0], 0, false
				s.msg = strings.Builder{}
			}
		}
		s.buf = s.buf[end:]
	}
	if len(s.buf) == 0 {
		s.buf = nil
	} else if cap(s.buf) > 2*len(s.buf)+(64<<10) {
		s.buf = append([]byte(nil), s.buf...)
	}
	return release, frames, nil
}

// appendRaw appends a raw frame to release; the first is not copied
// (feed never writes over the bytes it has parsed).
func appendRaw(release, raw []byte) []byte {
	if release == nil {
		return raw
	}
	return append(release, raw...)
}

// payloadText returns a frame's payload unmasked, as text for the
// scanners: one copy.
func payloadText(b []byte, h wsHeader) string {
	if !h.masked {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b))
	appendUnmasked(&sb, b, h.key)
	return sb.String()
}

// appendPayload appends a frame's payload, unmasked, to sb.
func appendPayload(sb *strings.Builder, b []byte, h wsHeader) {
	if !h.masked {
		sb.Write(b)
		return
	}
	sb.Grow(len(b))
	appendUnmasked(sb, b, h.key)
}

// appendUnmasked writes b unmasked with key to sb, through a small buffer.
func appendUnmasked(sb *strings.Builder, b []byte, key [4]byte) {
	var chunk [4 << 10]byte // a multiple of 4: the key stays aligned
	for len(b) > 0 {
		n := copy(chunk[:], b)
		mask(chunk[:n], key)
		sb.Write(chunk[:n])
		b = b[n:]
	}
}

// mask XORs b with key, from key[0] (RFC 6455 section 5.3).
func mask(b []byte, key [4]byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// appendWSFrame appends payload as one final frame of opcode op; masked
// (the agent's direction) with a fresh random key.
func appendWSFrame(dst []byte, op byte, payload string, masked bool) []byte {
	var m byte
	if masked {
		m = 0x80
	}
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, m|byte(n))
	case n < 1<<16:
		dst = binary.BigEndian.AppendUint16(append(dst, m|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, m|127), uint64(n))
	}
	if !masked {
		return append(dst, payload...)
	}
	var key [4]byte
	_, _ = rand.Read(key[:]) // Never fails (crypto/rand).
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	mask(dst[start:], key)
	return dst
}

// appendWSClose appends a close frame with status 1008 and a reason
// naming the rule.
func appendWSClose(dst []byte, masked bool, rule string) []byte {
	reason := "bot-bottle egress closed this connection: " + rule
	payload := string(binary.BigEndian.AppendUint16(nil, wsPolicyViolation)) + reason[:min(len(reason), 123)]
	return appendWSFrame(dst, wsOpClose, payload, masked)
}
