package dnsgate

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
)

// serve starts s on 127.0.0.1 and returns its UDP and TCP ports. The server
// stops, and Serve's result is checked, when the test ends.
func serve(t *testing.T, s *Server) (udpPort, tcpPort int) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve() = %v, want nil after cancel", err)
		}
	})
	return pc.LocalAddr().(*net.UDPAddr).Port, ln.Addr().(*net.TCPAddr).Port
}

// recorder collects OnQuery calls.
type recorder struct {
	mu sync.Mutex
	qs []Query // guarded by mu
}

func (r *recorder) add(q Query) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.qs = append(r.qs, q)
}

func (r *recorder) all() []Query {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Query(nil), r.qs...)
}

// TestDig runs the real dig client against the server. CI installs dig
// (package dnsutils); the test fails rather than skips without it.
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Fatalf("dig not found; install dnsutils (bind-utils): %v", err)
	}
	var rec recorder
	s := New(Config{Allow: func(n string) bool { return n == "allowed.example" }, OnQuery: rec.add})
	udpPort, tcpPort := serve(t, s)

	tests := []struct {
		name string
		args []string
		want string // a substring of dig's output
	}{
		{"udp-a", []string{"-p", strconv.Itoa(udpPort), "allowed.example", "A", "+short"}, "127.0.0.1\n"},
		{"tcp-a", []string{"-p", strconv.Itoa(tcpPort), "ALLOWED.example.", "A", "+short", "+tcp"}, "127.0.0.1\n"},
		{"udp-unlisted-txt", []string{"-p", strconv.Itoa(udpPort), "leak.evil.example", "TXT"}, "status: NXDOMAIN"},
		{"udp-allowed-aaaa", []string{"-p", strconv.Itoa(udpPort), "allowed.example", "AAAA"}, "status: NOERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"@127.0.0.1", "+time=2", "+tries=1"}, tt.args...)
			out, err := exec.CommandContext(t.Context(), dig, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("dig %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("dig %s output:\n%s\nwant it to contain %q", strings.Join(args, " "), out, tt.want)
			}
		})
	}

	lo := netip.MustParseAddr("127.0.0.1")
	want := []Query{
		{Client: lo, Name: "allowed.example", Type: "A", Allowed: true, Rcode: "NOERROR"},
		{Client: lo, Name: "allowed.example", Type: "A", Allowed: true, Rcode: "NOERROR"},
		{Client: lo, Name: "leak.evil.example", Type: "TXT", Rcode: "NXDOMAIN"},
		{Client: lo, Name: "allowed.example", Type: "AAAA", Allowed: true, Rcode: "NOERROR"},
	}
	if diff := cmp.Diff(want, rec.all(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("OnQuery mismatch (-want +got):\n%s", diff)
	}
}

// exchange writes one framed query on c and reads the framed response.
func exchange(t *testing.T, c net.Conn, req []byte) dnsmessage.Message {
	t.Helper()
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(req))), req...)); err != nil {
		t.Fatalf("writing query: %v", err)
	}
	var size [2]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("reading response length: %v", err)
	}
	resp := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(c, resp); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(resp); err != nil {
		t.Fatalf("unpacking response: %v", err)
	}
	return m
}

func TestTCPSeveralQueries(t *testing.T) {
	s := New(Config{Allow: testAllow, Answer: func(netip.Addr) netip.Addr { return testAnswer }})
	_, tcpPort := serve(t, s)
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, tt := range []struct {
		labels []string
		want   dnsmessage.RCode
	}{
		{[]string{"example", "com"}, dnsmessage.RCodeSuccess},
		{[]string{"evil", "example"}, dnsmessage.RCodeNameError},
		{[]string{"example", "com"}, dnsmessage.RCodeSuccess},
	} {
		id := uint16(100 + i)
		m := exchange(t, c, rawRequest(id, tt.labels...))
		if m.ID != id || m.RCode != tt.want {
			t.Errorf("query %d: got ID %d rcode %v, want ID %d rcode %v", i, m.ID, m.RCode, id, tt.want)
		}
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Config{Allow: testAllow, Answer: func(netip.Addr) netip.Addr { return testAnswer }})
		client, server := net.Pipe()
		defer client.Close()
		done := make(chan struct{})
		go func() {
			s.serveConn(t.Context(), server)
			close(done)
		}()
		exchange(t, client, rawRequest(1, "example", "com"))
		time.Sleep(tcpIdleTimeout - time.Second)
		exchange(t, client, rawRequest(2, "example", "com"))
		time.Sleep(tcpIdleTimeout + time.Second)
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatalf("connection still open after %v idle", tcpIdleTimeout)
		}
	})
}

func TestServeStops(t *testing.T) {
	s := New(Config{})
	if err := s.Serve(t.Context(), nil, nil); err == nil {
		t.Errorf("Serve(nil, nil) = nil, want an error")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := s.Serve(t.Context(), nil, ln); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve(closed listener) = %v, want %v", err, net.ErrClosed)
	}
}

// TestServeEndsWithEitherTransport: when one transport's loop fails, Serve
// ends the other and returns the failure, so that its supervisor restarts
// the whole resolver rather than leaving it half up.
func TestServeEndsWithEitherTransport(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- New(Config{}).Serve(t.Context(), pc, ln) }()
	time.Sleep(50 * time.Millisecond) // let both loops run
	_ = ln.Close()                    // the TCP loop fails
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve() = %v, want the TCP loop's %v", err, net.ErrClosed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept serving UDP after its TCP loop failed")
	}
}
