package egress

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// BlockWebSocket marks a WebSocket connection closed because a frame
// broke the protocol the proxy can read (an extension, an unmasked agent
// frame, an unknown opcode) or a message was too large to scan.
const BlockWebSocket = "websocket-frame"

// BlockSecretInbound marks a WebSocket connection closed because the
// upstream sent one of the bottle's secrets toward the agent.
const BlockSecretInbound = "secret-inbound"

// maxWSMessage is the largest WebSocket message scanned whole; a longer
// one closes the connection rather than pass unscanned.
const maxWSMessage = maxScanBody

// errWSClosed is what the copy between agent and upstream sees once the
// proxy has closed a WebSocket connection.
var errWSClosed = errors.New("websocket connection closed by the egress policy")

// respond is the proxy's ModifyResponse: a switch to WebSocket gets its
// frames read, everything else goes to inbound scanning.
func (p *Proxy) respond(res *http.Response) error {
	if res.StatusCode == http.StatusSwitchingProtocols {
		return p.upgraded(res)
	}
	return p.modifyResponse(res)
}

// upgraded wraps the upstream side of a WebSocket connection so that
// every frame is parsed and every message scanned before it is passed on.
func (p *Proxy) upgraded(res *http.Response) error {
	f, ok := res.Request.Context().Value(routeKey{}).(forwarded)
	if !ok {
		return errors.New("upgrade without a route")
	}
	// Security: the offer was removed (sanitize); an upstream that picks
	// an extension anyway would send frames the proxy cannot read.
	if len(res.Header.Values("Sec-WebSocket-Extensions")) > 0 {
		return errors.New("the upstream chose a WebSocket extension that was not offered")
	}
	rwc, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		return errors.New("101 switching protocols response with non-writable body")
	}
	st := p.state.Load()
	patterns := slices.Contains(f.route.DLP.Outbound, dlp.TokenPatterns)
	if st.scanner == nil && !patterns {
		return nil // Nothing to find: no secret, no patterns.
	}
	ws := &wsConn{rwc: rwc}
	ws.up = wsStream{fromClient: true, scan: func(b []byte) *refusal { return scanWSOut(st, f.route, patterns, b) }}
	ws.down = wsStream{scan: func(b []byte) *refusal { return scanWSIn(st, b) }}
	ws.blocked = func(rf *refusal) {
		// Through the recorder, so that the event is written like every
		// other decision.
		rec := p.start(res.Request, f.target)
		rec.ev.Method = "websocket"
		rec.ev.Route = f.route.Host
		p.log.Warn("websocket closed", "host", rec.ev.Host, "rule", rf.code)
		p.refusals.add(RecentRefusal{Time: rec.start.UTC(), Method: rec.ev.Method, Host: rec.ev.Host, Path: rec.ev.Path, Rule: rf.code, Reason: rf.reason})
		rec.done(http.StatusSwitchingProtocols, 0, "block", rf.code, rf.reason)
	}
	res.Body = ws
	return nil
}

// scanWSOut scans a message or control payload the agent sends, with the
// rules of outbound DLP: a secret goes only to its own hosts, and the
// route's detectors apply. A match closes the connection whatever the
// route's on_match says: a frame cannot be redacted or held.
func scanWSOut(st *state, rt *policy.Route, patterns bool, b []byte) *refusal {
	text := string(b)
	if st.scanner != nil {
		fs := st.scanner.ScanKnown("websocket message", text)
		for _, f := range fs {
			if !slices.Contains(f.Hosts, rt.Host) {
				return refuse(BlockDLPOutbound, "the credential in %s (%s form) belongs to %s, not %s; the WebSocket connection is closed", f.Slot, f.Rule, strings.Join(f.Hosts, ", "), rt.Host)
			}
		}
		if len(fs) > 0 && slices.Contains(rt.DLP.Outbound, dlp.KnownSecrets) {
			return refuse(BlockDLPOutbound, "%s; the WebSocket connection is closed", describe(fs))
		}
	}
	if patterns {
		fs, err := dlp.ScanPatterns("websocket message", text, len(b) <= maxDecodeScan)
		if err != nil {
			return refuse(BlockDLPOutbound, "the token scanner is unavailable (%v); closing rather than sending unscanned", err)
		}
		if len(fs) > 0 {
			return refuse(BlockDLPOutbound, "%s; the WebSocket connection is closed", describe(fs))
		}
	}
	return nil
}

// scanWSIn scans what the upstream sends: no secret of the bottle may
// reach the agent, the injected credential least of all.
func scanWSIn(st *state, b []byte) *refusal {
	if st.scanner == nil {
		return nil
	}
	if fs := st.scanner.ScanKnown("websocket message", string(b)); len(fs) > 0 {
		return refuse(BlockSecretInbound, "the upstream sent the secret %s (%s form) in a WebSocket message; the connection is closed", fs[0].Slot, fs[0].Rule)
	}
	return nil
}

// wsConn is the upstream side of a WebSocket connection as the reverse
// proxy sees it: Write carries the agent's bytes up, Read the upstream's
// down. Each direction passes a frame on only once it (and, for a
// fragmented message, the whole message) has been read and scanned.
type wsConn struct {
	rwc     io.ReadWriteCloser
	blocked func(*refusal)

	// up is used only by Write, down and pending only by Read: the proxy
	// copies each direction in its own goroutine.
	up, down wsStream
	pending  []byte
	rbuf     [32 << 10]byte

	once sync.Once
	mu   sync.Mutex
	// closed is guarded by mu.
	closed bool
}

func (c *wsConn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.isClosed() {
			return 0, errWSClosed
		}
		n, err := c.rwc.Read(c.rbuf[:])
		if n > 0 {
			out, rf := c.down.feed(c.rbuf[:n])
			if rf != nil {
				c.block(rf)
				return 0, errWSClosed
			}
			c.pending = out
		}
		if err != nil && len(c.pending) == 0 {
			return 0, err
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *wsConn) Write(b []byte) (int, error) {
	if c.isClosed() {
		return 0, errWSClosed
	}
	out, rf := c.up.feed(b)
	if rf != nil {
		c.block(rf)
		return 0, errWSClosed
	}
	if len(out) > 0 {
		if _, err := c.rwc.Write(out); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (c *wsConn) Close() error { return c.rwc.Close() }

func (c *wsConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// block records the refusal once and closes the upstream side; the
// proxy then closes the agent's side.
func (c *wsConn) block(rf *refusal) {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.blocked(rf)
		_ = c.rwc.Close()
	})
}

// wsStream parses one direction of a WebSocket connection (RFC 6455
// section 5). It holds back the frames of a message until the message is
// complete and scanned, then releases them unchanged.
type wsStream struct {
	// fromClient is set for the agent's direction, whose frames must be
	// masked.
	fromClient bool
	scan       func([]byte) *refusal

	buf []byte // input not yet parsed into a whole frame
	// held are the raw frames of the message being read, msg its
	// unmasked payload; inMsg is set between its first and last frame.
	held, msg []byte
	inMsg     bool
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

// feed parses p and returns the raw bytes that may be passed on: whole
// control frames, and whole messages, once scanned. A refusal means the
// connection must be closed.
func (s *wsStream) feed(p []byte) (release []byte, rf *refusal) {
	s.buf = append(s.buf, p...)
	for {
		h, ok, rf := parseWSHeader(s.buf, s.fromClient)
		if rf != nil {
			return nil, rf
		}
		if !ok || len(s.buf)-h.hdrLen < h.payload {
			break
		}
		end := h.hdrLen + h.payload
		raw := s.buf[:end]
		payload := unmask(raw[h.hdrLen:], h)
		switch {
		case h.op >= 8:
			// Control frames may come between the fragments of a
			// message; each is scanned alone and passed at once.
			if rf := s.scan(payload); rf != nil {
				return nil, rf
			}
			release = append(release, raw...)
		case (h.op == 0) != s.inMsg:
			return nil, refuse(BlockWebSocket, "a WebSocket continuation frame does not continue a message, or a new message interrupts one")
		case h.fin && !s.inMsg:
			// A whole message in one frame: no copy into held.
			if rf := s.scan(payload); rf != nil {
				return nil, rf
			}
			release = append(release, raw...)
		default:
			if len(s.msg)+len(payload) > maxWSMessage {
				return nil, refuse(BlockWebSocket, "a WebSocket message is over %d MiB and cannot be scanned", maxWSMessage>>20)
			}
			s.inMsg = true
			s.held = append(s.held, raw...)
			s.msg = append(s.msg, payload...)
			if h.fin {
				if rf := s.scan(s.msg); rf != nil {
					return nil, rf
				}
				release = append(release, s.held...)
				s.held, s.msg, s.inMsg = s.held[:0], s.msg[:0], false
			}
		}
		s.buf = s.buf[end:]
	}
	if len(s.buf) == 0 {
		s.buf = nil
	} else if cap(s.buf) > 2*len(s.buf)+(64<<10) {
		s.buf = append([]byte(nil), s.buf...)
	}
	return release, nil
}

// unmask returns the payload of a frame unmasked (a copy when masked).
func unmask(b []byte, h wsHeader) []byte {
	if !h.masked {
		return b
	}
	out := make([]byte, len(b))
	for i := range b {
		out[i] = b[i] ^ h.key[i&3]
	}
	return out
}
