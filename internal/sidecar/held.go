package sidecar

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// heldListener keeps a listening socket open across a service's restarts:
// each run of the service accepts on a view, whose Close (which
// http.Server.Serve calls on return) ends that view only. The address is
// never free for another process to take while the service restarts, and
// a connection that arrives meanwhile waits for the next run.
type heldListener struct {
	ln    net.Listener
	conns chan accepted
	done  chan struct{} // closed by Close
	ended chan struct{} // closed when the accept loop returned
	once  sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

// hold starts accepting on ln; Close closes ln.
func hold(ln net.Listener) *heldListener {
	h := &heldListener{ln: ln, conns: make(chan accepted), done: make(chan struct{}), ended: make(chan struct{})}
	go h.loop()
	return h
}

func (h *heldListener) loop() {
	defer close(h.ended)
	for {
		c, err := h.ln.Accept()
		select {
		case h.conns <- accepted{c, err}:
		case <-h.done:
			if c != nil {
				_ = c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// view returns a listener for one run of a service.
func (h *heldListener) view() net.Listener {
	return &listenerView{h: h, done: make(chan struct{})}
}

// Addr returns the socket's address.
func (h *heldListener) Addr() net.Addr { return h.ln.Addr() }

// Close closes the socket and waits for the accept loop.
func (h *heldListener) Close() error {
	var err error
	h.once.Do(func() {
		close(h.done)
		err = h.ln.Close()
		<-h.ended
	})
	return err
}

type listenerView struct {
	h    *heldListener
	done chan struct{}
	once sync.Once
}

func (v *listenerView) Accept() (net.Conn, error) {
	select {
	case <-v.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case a := <-v.h.conns:
		return a.c, a.err
	case <-v.done:
		return nil, net.ErrClosed
	case <-v.h.done:
		return nil, net.ErrClosed
	}
}

// Close ends the view; the socket stays open.
func (v *listenerView) Close() error {
	v.once.Do(func() { close(v.done) })
	return nil
}

func (v *listenerView) Addr() net.Addr { return v.h.ln.Addr() }

// heldPacketConn is heldListener for a datagram socket. One run reads at
// a time: a view's Close wakes its read with a deadline, which the next
// view clears.
type heldPacketConn struct {
	pc net.PacketConn
}

func holdPacket(pc net.PacketConn) *heldPacketConn { return &heldPacketConn{pc: pc} }

// view returns the socket for one run of a service.
func (h *heldPacketConn) view() net.PacketConn {
	_ = h.pc.SetReadDeadline(time.Time{})
	return &packetView{PacketConn: h.pc}
}

// Close closes the socket.
func (h *heldPacketConn) Close() error { return h.pc.Close() }

type packetView struct {
	net.PacketConn
	closed atomic.Bool
}

func (v *packetView) ReadFrom(b []byte) (int, net.Addr, error) {
	if v.closed.Load() {
		return 0, nil, net.ErrClosed
	}
	n, addr, err := v.PacketConn.ReadFrom(b)
	if err != nil && v.closed.Load() {
		return n, addr, net.ErrClosed
	}
	return n, addr, err
}

// Close ends the view; the socket stays open.
func (v *packetView) Close() error {
	if v.closed.CompareAndSwap(false, true) {
		return v.SetReadDeadline(time.Now())
	}
	return nil
}

// httpService serves srv on ln as the service name. When ctx ends it shuts
// srv down, letting requests in flight finish for up to grace (none when
// grace is 0).
func httpService(name string, srv *http.Server, ln *heldListener, grace time.Duration) service {
	return service{name: name, serve: func(ctx context.Context) error {
		// A request that outlives grace is cut; there is nothing to
		// report of a shutdown.
		shut := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(shut)
			if grace == 0 {
				_ = srv.Close()
				return
			}
			sctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			_ = srv.Shutdown(sctx)
		})
		err := srv.Serve(ln.view())
		if stop() {
			return err // stopped on its own
		}
		<-shut
		return nil
	}}
}
