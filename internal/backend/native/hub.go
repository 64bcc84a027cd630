//go:build linux

package native

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"
)

// Bounds of what the hub keeps for clients.
const (
	// replayMax is how much of a terminal-less command's latest output an
	// attach replays first, as Docker's does from its log.
	replayMax = 1 << 20
	// peerQueue is how many frames a client may lag behind before the hub
	// drops it: a stalled client must not stall the agent.
	peerQueue = 256
)

// hub is the supervisor's side of attach: it drains the command's output
// into the bottle's log and out to every attached client, and passes the
// clients' keystrokes and sizes to the terminal when there is one.
type hub struct {
	tty bool
	// master is the terminal's master side, or nil.
	master *os.File
	log    *slog.Logger

	inMu sync.Mutex // serializes writes to master

	mu sync.Mutex
	// out is the log that `logs` prints. Guarded by mu.
	out io.Writer
	// replay is the latest output of a command without a terminal, at
	// most replayMax bytes of it. Guarded by mu.
	replay  []frame
	replayN int
	// peers are the attached clients. Guarded by mu.
	peers map[*peer]struct{}
	// ended is set once the exit status went out; no client joins after.
	// Guarded by mu.
	ended  bool
	status int
}

type frame struct {
	kind byte
	data []byte
}

// peer is one attached client. Its writer sends what the hub queues on
// out; when out closes, it sends the exit frame if final, and hangs up.
type peer struct {
	conn  net.Conn
	out   chan frame
	final bool // set, under the hub's mu, before out closes
	done  chan struct{}
}

func newHub(tty bool, master *os.File, out io.Writer, log *slog.Logger) *hub {
	return &hub{tty: tty, master: master, out: out, log: log, peers: map[*peer]struct{}{}}
}

// pump copies one of the command's output streams to the hub until it
// ends, and closes done.
func (h *hub) pump(r io.Reader, kind byte, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.write(kind, append([]byte(nil), buf[:n]...))
		}
		if err != nil {
			return
		}
	}
}

// write logs output and queues it for every client.
func (h *hub) write(kind byte, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.out.Write(data); err != nil {
		h.log.Warn("writing the bottle's output log", "err", err)
	}
	f := frame{kind, data}
	if !h.tty {
		h.replay = append(h.replay, f)
		h.replayN += len(data)
		for h.replayN > replayMax && len(h.replay) > 1 {
			h.replayN -= len(h.replay[0].data)
			h.replay = h.replay[1:]
		}
	}
	for p := range h.peers {
		select {
		case p.out <- f:
		default:
			h.log.Warn("dropping an attached client that does not keep up")
			h.dropLocked(p)
			// Its writer may be stuck on the connection itself.
			_ = p.conn.Close()
		}
	}
}

// serve accepts clients on ln until it is closed.
func (h *hub) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go h.attach(c)
	}
}

// attach greets a client, replays what it missed, and then feeds it.
func (h *hub) attach(c net.Conn) {
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(helloTimeout))
	got, err := readHello(r)
	if err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if got.Version != attachVersion {
		_ = writeHello(c, hello{Version: attachVersion, Error: fmt.Sprintf("this bottle speaks attach version %d, the client %d: use the bot-bottle that started it", attachVersion, got.Version)})
		_ = c.Close()
		return
	}
	if err := writeHello(c, hello{Version: attachVersion, TTY: h.tty}); err != nil {
		_ = c.Close()
		return
	}
	p := &peer{conn: c, out: make(chan frame, peerQueue), done: make(chan struct{})}
	h.mu.Lock()
	// The replay and the registration happen under the lock writes take,
	// so the client sees every byte once, in order.
	backlog := append([]frame(nil), h.replay...)
	ended, status := h.ended, h.status
	if !ended {
		h.peers[p] = struct{}{}
	}
	h.mu.Unlock()
	if ended {
		_ = writeFrame(c, frameExit, exitFrame(status))
		_ = c.Close()
		return
	}
	go h.feed(p, backlog)
	h.input(p, r)
}

// feed is a client's writer.
func (h *hub) feed(p *peer, backlog []frame) {
	defer close(p.done)
	defer func() { _ = p.conn.Close() }()
	failed := false
	send := func(f frame) {
		if !failed && writeFrame(p.conn, f.kind, f.data) != nil {
			// Keep draining: the hub drops the client once its queue
			// fills, or its reader sees the hang-up.
			failed = true
		}
	}
	for _, f := range backlog {
		send(f)
	}
	for f := range p.out {
		send(f)
	}
	h.mu.Lock()
	final, status := p.final, h.status
	h.mu.Unlock()
	if final {
		send(frame{frameExit, exitFrame(status)})
	}
}

// input is a client's reader: keystrokes and sizes for the terminal. It
// drops the client when it hangs up.
func (h *hub) input(p *peer, r io.Reader) {
	defer h.drop(p)
	for {
		kind, data, err := readFrame(r)
		if err != nil {
			return
		}
		if !h.tty {
			continue
		}
		switch kind {
		case frameStdin:
			h.inMu.Lock()
			_, err := h.master.Write(data)
			h.inMu.Unlock()
			if err != nil {
				return
			}
		case frameResize:
			if len(data) == 4 {
				_ = pty.Setsize(h.master, &pty.Winsize{Rows: binary.BigEndian.Uint16(data[:2]), Cols: binary.BigEndian.Uint16(data[2:])})
			}
		}
	}
}

func (h *hub) drop(p *peer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(p)
}

// dropLocked stops feeding p. Preconditions: h.mu is held.
func (h *hub) dropLocked(p *peer) {
	if _, ok := h.peers[p]; ok {
		delete(h.peers, p)
		close(p.out)
	}
}

// finish sends every client the command's status after the rest of its
// output, and waits a while for them to have it.
func (h *hub) finish(status int, wait time.Duration) {
	h.mu.Lock()
	h.ended, h.status = true, status
	var writers []*peer
	for p := range h.peers {
		p.final = true
		writers = append(writers, p)
		h.dropLocked(p)
	}
	h.mu.Unlock()
	deadline := time.After(wait)
	for _, p := range writers {
		select {
		case <-p.done:
		case <-deadline:
			return
		}
	}
}
