package egress

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"net/http"
	"strings"
	"testing"
	"time"
)

// Frame opcodes, written out here so the tests do not lean on the
// parser they test.
const (
	opCont, opText, opBinary, opClose, opPing = 0, 1, 2, 8, 9
)

// writeFrame writes one WebSocket frame; the agent's are masked.
func writeFrame(w io.Writer, fin bool, rsv, op byte, masked bool, payload []byte) error {
	b0 := rsv<<4 | op
	if fin {
		b0 |= 0x80
	}
	hdr := []byte{b0, 0}
	switch n := len(payload); {
	case n < 126:
		hdr[1] = byte(n)
	case n < 1<<16:
		hdr[1] = 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr[1] = 127
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	body := append([]byte(nil), payload...)
	if masked {
		hdr[1] |= 0x80
		key := []byte{0x37, 0xfa, 0x21, 0x3d}
		hdr = append(hdr, key...)
		for i := range body {
			body[i] ^= key[i%4]
		}
	}
	_, err := w.Write(append(hdr, body...))
	return err
}

// wsFrame is one frame as the tests read it, unmasked.
type wsFrame struct {
	fin, masked bool
	op          byte
	payload     []byte
}

// readFrame reads one frame and unmasks it.
func readFrame(r *bufio.Reader) (fin bool, op byte, payload []byte, err error) {
	f, err := readWSFrame(r)
	return f.fin, f.op, f.payload, err
}

// readWSFrame reads one frame, noting whether it was masked, and
// unmasks it.
func readWSFrame(r *bufio.Reader) (wsFrame, error) {
	var f wsFrame
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return f, err
	}
	f.fin, f.op = h[0]&0x80 != 0, h[0]&0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	f.masked = h[1]&0x80 != 0
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, err
		}
	}
	if n > 1<<20 {
		return f, errors.New("frame too large for the test")
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// serveWebSocket is the fake upstream's WebSocket endpoint: it records
// every frame payload it receives and echoes each whole message. On a
// path ending in /ws-reflect it first sends the Authorization header it
// received, as a careless echo server would; with ?echo-auth it puts it
// in a header of its 101.
func serveWebSocket(u *upstream, w http.ResponseWriter, r *http.Request) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	if r.URL.Query().Has("deflate") {
		fmt.Fprint(brw, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
	}
	if r.URL.Query().Has("echo-auth") {
		fmt.Fprintf(brw, "X-Echo: %s\r\n", r.Header.Get("Authorization"))
	}
	fmt.Fprint(brw, "\r\n")
	if strings.HasSuffix(r.URL.Path, "/ws-reflect") {
		_ = writeFrame(brw, true, 0, opText, false, []byte("you sent: "+r.Header.Get("Authorization")))
	}
	_ = brw.Flush()
	var msg []byte
	var msgOp byte
	for {
		fin, op, payload, err := readFrame(brw.Reader)
		if err != nil {
			return
		}
		u.mu.Lock()
		u.ws = append(u.ws, string(payload))
		u.mu.Unlock()
		switch op {
		case opClose:
			_ = writeFrame(brw, true, 0, opClose, false, payload)
			_ = brw.Flush()
			return
		case opPing:
			_ = writeFrame(brw, true, 0, 10, false, payload)
			_ = brw.Flush()
			continue
		case opText, opBinary:
			msgOp = op
		}
		msg = append(msg, payload...)
		if fin {
			_ = writeFrame(brw, true, 0, msgOp, false, msg)
			_ = brw.Flush()
			msg = nil
		}
	}
}

// dialWebSocket opens a tunnel to host and upgrades path, offering
// extra handshake headers.
func dialWebSocket(t *testing.T, e *env, host, path, extra string) (*tls.Conn, *bufio.Reader, int) {
	t.Helper()
	tc, br, status, _ := dialWebSocketHeader(t, e, host, path, extra)
	return tc, br, status
}

// dialWebSocketHeader is dialWebSocket returning the handshake
// response's header too.
func dialWebSocketHeader(t *testing.T, e *env, host, path, extra string) (*tls.Conn, *bufio.Reader, int, http.Header) {
	t.Helper()
	tc := tunnelTLS(t, e, host, &tls.Config{ServerName: host, RootCAs: e.agentCA, NextProtos: []string{"http/1.1"}})
	fmt.Fprintf(tc, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n", path, host, extra)
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	return tc, br, resp.StatusCode, resp.Header
}

func (u *upstream) wsPayloads() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.ws...)
}

// TestWebSocketUpgrade upgrades a connection on an allowed route and
// exchanges a message both ways through the tunnel.
func TestWebSocketUpgrade(t *testing.T) {
	for _, pol := range []string{testPolicy, dlpPolicy} {
		e := newEnvWith(t, pol)
		tc, br, status := dialWebSocket(t, e, "open.test", "/ws", "")
		if status != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade = %d, want 101", status)
		}
		long := strings.Repeat("a long clean message ", 5000)
		for _, m := range []string{"ping", long} {
			if err := writeFrame(tc, true, 0, opText, true, []byte(m)); err != nil {
				t.Fatal(err)
			}
			_, op, got, err := readFrame(br)
			if err != nil || op != opText || string(got) != m {
				t.Fatalf("echo of %d bytes = %d bytes op %d, %v", len(m), len(got), op, err)
			}
		}
	}
}

// TestWebSocketFramesScanned: after an allowed upgrade, the proxy reads
// the frames both ways. A message carrying the secret to a host it does
// not belong to (whole, fragmented, hex-encoded, in a ping) closes the
// connection before the upstream sees it, and is audited; so does a
// compressed frame, which it could not read; and the upstream never
// hands the agent the credential it injected.
func TestWebSocketFramesScanned(t *testing.T) {
	type frame struct {
		fin     bool
		rsv, op byte
		masked  bool
		payload string
	}
	text := func(s string) frame { return frame{true, 0, opText, true, s} }
	for _, tc := range []struct {
		name, host, path string
		frames           []frame
	}{
		{"secret-in-a-text-message", "open.test", "/ws", []frame{text("hello"), text("key=" + testSecret)}},
		{"secret-split-across-fragments", "open.test", "/ws", []frame{
			{false, 0, opText, true, "key=s3cr3t-to"}, {true, 0, opCont, true, "ken-value"}}},
		{"secret-split-around-a-ping", "open.test", "/ws", []frame{
			{false, 0, opText, true, "key=s3cr3t-to"}, {true, 0, opPing, true, "x"}, {true, 0, opCont, true, "ken-value"}}},
		{"hex-secret-in-a-binary-message", "open.test", "/ws", []frame{{true, 0, opBinary, true, hex.EncodeToString([]byte(testSecret))}}},
		{"secret-in-a-ping", "open.test", "/ws", []frame{{true, 0, opPing, true, testSecret}}},
		{"secret-in-a-close-reason", "open.test", "/ws", []frame{{true, 0, opClose, true, "\x03\xe8" + testSecret}}},
		{"compressed-frame", "open.test", "/ws", []frame{{true, 4, opText, true, "\xf2\x48\xcd\xc9\xc9\x07\x00"}}},
		{"unmasked-agent-frame", "open.test", "/ws", []frame{{true, 0, opText, false, "key=" + testSecret}}},
		{"unknown-opcode", "open.test", "/ws", []frame{{true, 0, 3, true, "key=" + testSecret}}},
		{"token-pattern-to-its-own-host", "api.test", "/ws", []frame{text("token=ghp_" + strings.Repeat("a1B2c3D4e5", 4)[:36])}},
		{"upstream-reflects-the-credential", "api.test", "/ws-reflect", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, dlpPolicy)
			conn, br, status := dialWebSocket(t, e, tc.host, tc.path, "")
			if status != http.StatusSwitchingProtocols {
				t.Fatalf("upgrade = %d, want 101", status)
			}
			frames := readAll(br)
			for _, f := range tc.frames {
				if err := writeFrame(conn, f.fin, f.rsv, f.op, f.masked, []byte(f.payload)); err != nil {
					break
				}
			}
			var got []string
			select {
			case fs := <-frames:
				for _, f := range fs {
					got = append(got, string(f.payload))
				}
				wantPolicyClose(t, fs)
			case <-time.After(5 * time.Second):
				t.Fatal("the proxy kept the connection open")
			}
			for _, p := range append(e.up.wsPayloads(), got...) {
				if strings.Contains(p, "s3cr3t") || strings.Contains(p, "ghp_") || strings.Contains(p, hex.EncodeToString([]byte("s3cr3t"))) || strings.Contains(p, "\xf2\x48") {
					t.Errorf("a payload passed: %q", p)
				}
			}
			if ev := waitEvent(t, e, "websocket"); ev.Decision != "block" || ev.Rule == "" || ev.Status != http.StatusSwitchingProtocols || strings.Contains(ev.Reason, testSecret) {
				t.Errorf("audit event = %+v, want a websocket block naming its rule", ev)
			}
		})
	}
}

// waitEvent returns the first audit event whose method is method.
func waitEvent(t *testing.T, e *env, method string) Event {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		e.events.mu.Lock()
		for _, ev := range e.events.ev {
			if ev.Method == method {
				e.events.mu.Unlock()
				return ev
			}
		}
		e.events.mu.Unlock()
	}
	t.Errorf("no audit event for %s", method)
	return Event{}
}

// TestWebSocketExtensionsRefused: the agent's offer of permessage-deflate
// never reaches the upstream, and an upstream that answers with an
// extension anyway does not get its connection.
func TestWebSocketExtensionsRefused(t *testing.T) {
	e := newEnvWith(t, dlpPolicy)
	_, _, status := dialWebSocket(t, e, "open.test", "/ws", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade = %d, want 101", status)
	}
	for _, h := range e.up.Hits() {
		if v := h.Header.Values("Sec-Websocket-Extensions"); len(v) != 0 {
			t.Errorf("the upstream saw the extension offer %q", v)
		}
	}
	if _, _, status = dialWebSocket(t, e, "open.test", "/ws?deflate", ""); status == http.StatusSwitchingProtocols {
		t.Errorf("an upstream that forces permessage-deflate got its upgrade")
	}
}

// TestOtherUpgradesRefused: an upgrade to anything but websocket (h2c, a
// private protocol) would be a raw tunnel nothing reads.
func TestOtherUpgradesRefused(t *testing.T) {
	e := newEnv(t)
	for _, up := range []string{"h2c", "websocket, h2c", "tcp"} {
		tc := tunnelTLS(t, e, "open.test", &tls.Config{ServerName: "open.test", RootCAs: e.agentCA, NextProtos: []string{"http/1.1"}})
		fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: open.test\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", up)
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get(BlockHeader) != BlockUpgrade {
			t.Errorf("Upgrade: %s = %d %q, want 403 %s", up, resp.StatusCode, resp.Header.Get(BlockHeader), BlockUpgrade)
		}
	}
	if hits := e.up.Hits(); len(hits) != 0 {
		t.Errorf("refused upgrades reached the upstream: %+v", hits)
	}
}
