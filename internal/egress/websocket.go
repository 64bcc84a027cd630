package egress

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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

// RuleRedacted marks a WebSocket session in which outbound DLP redacted
// at least one of the agent's messages (a route with on_match redact).
const RuleRedacted = "dlp-redacted"

// maxWSMessage is the largest WebSocket message scanned whole; a longer
// one closes the connection rather than pass unscanned.
const maxWSMessage = maxScanBody

// wsCloseGrace bounds how long closing a connection by policy waits for
// each side to take its close frame.
const wsCloseGrace = 2 * time.Second

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
// every frame is parsed, every message scanned before it is passed on
// (and redacted, on a redact route), and the session audited when it
// ends.
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
	// The 101's headers are the upstream's like any response's.
	p.redactResponse(res, f)
	st, rt := p.state.Load(), f.route
	c := &wsConn{rwc: rwc, p: p, rec: p.start(res.Request, f.target), note: f.note, route: rt.Host,
		drained: make(chan struct{}), upstreamClosed: make(chan struct{})}
	c.rec.ev.Method, c.rec.ev.Route = "websocket", rt.Host
	c.up.fromClient = true
	patterns := slices.Contains(rt.DLP.Outbound, dlp.TokenPatterns)
	if st.scanner != nil || patterns {
		c.up.scan = func(op byte, text string) (string, *refusal) {
			out, fs, rf := scanWSOut(st, rt, patterns, op, text)
			if out != "" {
				c.redacted(fs)
			}
			return out, rf
		}
	}
	in := &wsInbound{st: st, injection: slices.Contains(rt.DLP.Inbound, dlp.NaiveInjection), suspected: c.suspected}
	if st.scanner != nil || in.injection {
		c.down.scan = in.scan
	}
	res.Body = c
	return nil
}

// scanWSOut scans a message or control payload the agent sends with the
// rules of outbound DLP: a secret goes only to its own hosts, and the
// route's detectors apply. On a redact route it returns the message to
// send instead and what it redacted; any other match (block, supervise:
// a frame cannot be held; a control frame; what cannot be redacted
// exactly) is a refusal, which closes the connection.
func scanWSOut(st *state, rt *policy.Route, patterns bool, op byte, text string) (string, []dlp.Finding, *refusal) {
	fs, rf := wsFindings(st, rt, patterns, text)
	switch {
	case rf != nil || len(fs) == 0:
		return "", nil, rf
	case op >= 8:
		return "", nil, refuse(BlockDLPOutbound, "%s; a control frame is not redacted, so the WebSocket connection is closed", describe(fs))
	case rt.DLP.OnMatch == "supervise":
		return "", nil, refuse(BlockDLPOutbound, "%s; a WebSocket message cannot be held for the operator, so the connection is closed", describe(fs))
	case rt.DLP.OnMatch != "redact":
		return "", nil, refuse(BlockDLPOutbound, "%s; the WebSocket connection is closed", describe(fs))
	}
	out, ok := dlp.RedactFindings(text, fs)
	if !ok {
		return "", nil, refuse(BlockDLPOutbound, "%s; it cannot be redacted from the message as written, so the WebSocket connection is closed", describe(fs))
	}
	if op == wsOpText && !utf8.ValidString(out) && utf8.ValidString(text) {
		return "", nil, refuse(BlockDLPOutbound, "%s; redacting it would break the message's UTF-8, so the WebSocket connection is closed", describe(fs))
	}
	// Security: what a redaction leaves is scanned again; it goes up only
	// if nothing is found in it.
	if again, rf := wsFindings(st, rt, patterns, out); rf != nil || len(again) > 0 {
		return "", nil, refuse(BlockDLPOutbound, "%s; the redacted message still matched, so the WebSocket connection is closed", describe(fs))
	}
	return out, fs, nil
}

// wsFindings returns the matches in text that the route's outbound DLP
// acts on. A known secret on its way to a host it does not belong to is
// a refusal whatever the route says.
func wsFindings(st *state, rt *policy.Route, patterns bool, text string) ([]dlp.Finding, *refusal) {
	var out []dlp.Finding
	if st.scanner != nil {
		fs := st.scanner.ScanKnown("websocket message", text)
		for _, f := range fs {
			if !slices.Contains(f.Hosts, rt.Host) {
				return nil, refuse(BlockDLPOutbound, "the credential in %s (%s form) belongs to %s, not %s; the WebSocket connection is closed", f.Slot, f.Rule, strings.Join(f.Hosts, ", "), rt.Host)
			}
		}
		if slices.Contains(rt.DLP.Outbound, dlp.KnownSecrets) {
			out = fs
		}
	}
	if patterns {
		fs, err := dlp.ScanPatterns("websocket message", text, len(text) <= maxDecodeScan)
		if err != nil {
			return nil, refuse(BlockDLPOutbound, "the token scanner is unavailable (%v); closing rather than sending unscanned", err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// wsInbound scans what the upstream sends: no secret of the bottle may
// reach the agent, the injected credential least of all; and on a route
// with the injection detector, text messages are graded as text
// responses are (inbound.go): high closes the connection (as a stream is
// cut), medium is logged and passed. Binary messages are not graded.
type wsInbound struct {
	st        *state
	injection bool
	suspected func(label string)
	// tail is the end of the text messages so far, so that a phrase
	// split across two is found, as across two reads of a stream.
	tail string
}

func (in *wsInbound) scan(op byte, text string) (string, *refusal) {
	if in.st.scanner != nil {
		if fs := in.st.scanner.ScanKnown("websocket message", text); len(fs) > 0 {
			return "", refuse(BlockSecretInbound, "the upstream sent the secret %s (%s form) in a WebSocket message; the connection is closed", fs[0].Slot, fs[0].Rule)
		}
	}
	if !in.injection || op != wsOpText {
		return "", nil
	}
	c, label := dlp.ScanInjection(text)
	if in.tail != "" && c != dlp.High {
		// Only a high counts here: a medium may be the last message's
		// alone, graded already.
		if c2, l2 := dlp.ScanInjection(in.tail + text[:min(len(text), scanTail)]); c2 == dlp.High {
			c, label = c2, l2
		}
	}
	in.tail = strings.Clone(text[max(0, len(text)-scanTail):])
	switch c {
	case dlp.High:
		return "", refuse(BlockInjection, "the upstream sent a WebSocket message that looks like a prompt injection (%s); the connection is closed", label)
	case dlp.Medium:
		in.suspected(label)
	case dlp.None:
	}
	return "", nil
}

// wsConn is the upstream side of a WebSocket connection as the reverse
// proxy sees it: Write carries the agent's bytes up, Read the upstream's
// down. Each direction passes a frame on only once it (and, for a
// fragmented message, the whole message) has been read and scanned.
//
// A refusal closes both sides with a 1008 close frame: the upstream's is
// written at once (bounded by wsCloseGrace), the agent's is the last
// thing Read returns. Close, which the reverse proxy calls when the
// session ends, writes its audit event.
type wsConn struct {
	rwc io.ReadWriteCloser
	p   *Proxy
	// rec is the session's event: block reads it before the connection
	// is closed, record writes it once it is.
	rec   *recorder
	note  *note
	route string

	// up is used only by Write, down and pending only by Read: the proxy
	// copies each direction in its own goroutine.
	up, down wsStream
	pending  []byte
	rbuf     [32 << 10]byte

	// wmu serialises writes to rwc: the agent's frames and the proxy's
	// close frame.
	wmu sync.Mutex

	mu sync.Mutex
	// closed, refused, toAgent and redaction are guarded by mu. toAgent
	// is the close frame Read still has to hand the agent; redaction
	// describes the first redaction, for the audit.
	closed    bool
	refused   *refusal
	toAgent   []byte
	redaction string

	// drained is closed once Read has handed the agent its close frame
	// (or the session is over); upstreamClosed once the upstream has
	// its close frame and rwc is closed.
	drained, upstreamClosed chan struct{}
	drainOnce, closeOnce    sync.Once

	framesOut, bytesOut, framesIn, bytesIn, nRedacted, nSuspected atomic.Int64
}

func (c *wsConn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		c.mu.Lock()
		closed := c.closed
		c.pending, c.toAgent = c.toAgent, nil
		c.mu.Unlock()
		if len(c.pending) > 0 {
			break
		}
		if closed {
			c.drainOnce.Do(func() { close(c.drained) })
			return 0, errWSClosed
		}
		n, err := c.rwc.Read(c.rbuf[:])
		if n > 0 {
			out, frames, rf := c.down.feed(c.rbuf[:n])
			if rf != nil {
				c.block(rf)
				continue
			}
			c.pending = out
			c.framesIn.Add(int64(frames))
			c.bytesIn.Add(int64(len(out)))
		}
		if err != nil && len(c.pending) == 0 {
			if c.isClosed() {
				continue // Closed by the other direction: hand on its close frame.
			}
			return 0, err
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *wsConn) Write(b []byte) (int, error) {
	if !c.isClosed() {
		out, frames, rf := c.up.feed(b)
		if rf != nil {
			c.block(rf)
		} else {
			err := c.send(out)
			if err == nil {
				c.framesOut.Add(int64(frames))
				c.bytesOut.Add(int64(len(out)))
				return len(b), nil
			}
			if !errors.Is(err, errWSClosed) {
				return 0, err
			}
		}
	}
	// Security: nothing more goes up. Ending this copy tears the session
	// down; first let Read hand the agent its close frame.
	t := time.NewTimer(wsCloseGrace)
	defer t.Stop()
	select {
	case <-c.drained:
	case <-t.C:
	}
	return 0, errWSClosed
}

// send writes released frames up, unless the connection was closed:
// then the close frame is, or is about to be, the last frame sent.
func (c *wsConn) send(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return errWSClosed
	}
	_, err := c.rwc.Write(out)
	return err
}

// Close ends the session: it closes the upstream side (once a refusal's
// close frame is on its way) and writes the session's audit event.
func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		refused := c.refused != nil
		c.closed = true
		c.mu.Unlock()
		c.drainOnce.Do(func() { close(c.drained) })
		if refused {
			<-c.upstreamClosed
		} else {
			err = c.rwc.Close()
		}
		c.record()
	})
	return err
}

func (c *wsConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// block closes the connection on a refusal: it is logged and listed at
// once, audited when the session ends.
func (c *wsConn) block(rf *refusal) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed, c.refused = true, rf
	c.toAgent = appendWSClose(nil, false, rf.code)
	c.mu.Unlock()
	// Security: the reason may name what the agent sent; it is listed
	// redacted, as every record is.
	ev := c.rec.ev
	ev.Rule, ev.Reason = rf.code, rf.reason
	c.p.scrubEvent(&ev)
	c.p.log.Warn("websocket closed", "host", ev.Host, "rule", rf.code)
	c.p.refusals.add(RecentRefusal{Time: time.Now().UTC(), Method: ev.Method, Host: ev.Host, Path: ev.Path, Rule: rf.code, Reason: ev.Reason})
	go c.closeUpstream(appendWSClose(nil, true, rf.code))
}

// closeUpstream hands the upstream its close frame, waiting no longer
// than wsCloseGrace for it to be taken, and closes the upstream side,
// which wakes a Read waiting on it.
func (c *wsConn) closeUpstream(frame []byte) {
	defer close(c.upstreamClosed)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		c.wmu.Lock()
		defer c.wmu.Unlock()
		_, _ = c.rwc.Write(frame)
	}()
	t := time.NewTimer(wsCloseGrace)
	defer t.Stop()
	select {
	case <-sent:
	case <-t.C:
	}
	_ = c.rwc.Close()
}

func (c *wsConn) redacted(fs []dlp.Finding) {
	if c.nRedacted.Add(1) > 1 {
		return
	}
	what := describe(fs)
	c.mu.Lock()
	c.redaction = what + "; redacted"
	c.mu.Unlock()
	c.p.log.Warn("websocket message redacted", "host", c.route, "what", what)
}

func (c *wsConn) suspected(label string) {
	if c.nSuspected.Add(1) == 1 {
		c.p.log.Info("inbound injection suspected", "host", c.route, "what", label)
	}
}

// record writes the session's audit event.
func (c *wsConn) record() {
	c.mu.Lock()
	rf, redaction := c.refused, c.redaction
	c.mu.Unlock()
	ws := &WebSocket{
		FramesOut: c.framesOut.Load(), BytesOut: c.bytesOut.Load(),
		FramesIn: c.framesIn.Load(), BytesIn: c.bytesIn.Load(),
		Redacted: c.nRedacted.Load(), Suspected: c.nSuspected.Load(),
	}
	c.rec.ev.WebSocket = ws
	switch {
	case rf != nil:
		c.rec.done(http.StatusSwitchingProtocols, ws.BytesIn, "block", rf.code, rf.reason)
	case ws.Redacted > 0:
		c.rec.done(http.StatusSwitchingProtocols, ws.BytesIn, "allow", RuleRedacted, redaction)
	case c.note.redacted:
		c.rec.done(http.StatusSwitchingProtocols, ws.BytesIn, "allow", RuleResponseSecret)
	default:
		c.rec.done(http.StatusSwitchingProtocols, ws.BytesIn, "allow", "")
	}
}
