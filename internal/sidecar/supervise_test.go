package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// events is an audit sink that keeps what it records.
type events struct {
	mu  sync.Mutex
	evs []egress.Event
}

func (e *events) Record(ev egress.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// decisions returns each event as "METHOD HOST DECISION".
func (e *events) decisions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		out = append(out, ev.Method+" "+ev.Host+" "+ev.Decision)
	}
	return out
}

func testSupervisor(sink egress.AuditSink) *supervisor {
	s := newSupervisor(slog.New(slog.DiscardHandler), sink)
	s.maxRestarts, s.backoff, s.maxBackoff = 2, time.Millisecond, 10*time.Millisecond
	return s
}

// runSupervisor runs s in the background; wait returns run's error.
func runSupervisor(t *testing.T, s *supervisor, svcs ...service) (cancel func(), wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx, svcs...) }()
	var once sync.Once
	var err error
	wait = func() error {
		once.Do(func() {
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the supervisor did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { cancel(); _ = wait() })
	return cancel, wait
}

// TestSupervisorRestartsOnSameSocket stops a serving HTTP service, by an
// error or a panic: the next run answers on the same address, and a
// client that connects while it is down waits for it.
func TestSupervisorRestartsOnSameSocket(t *testing.T) {
	for _, how := range []string{"error", "panic"} {
		t.Run(how, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			held := hold(ln)
			defer func() { _ = held.Close() }()
			crash := make(chan struct{})
			var runs atomic.Int32
			svc := service{name: "web", serve: func(ctx context.Context) error {
				n := runs.Add(1)
				srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					fmt.Fprintf(w, "run %d", n)
				})}
				if n > 1 {
					return httpService("web", srv, held, 0).serve(ctx)
				}
				go func() { <-crash; _ = srv.Close() }()
				_ = srv.Serve(held.view())
				if how == "panic" {
					panic("serve loop broke")
				}
				return errors.New("serve loop broke")
			}}
			sink := &events{}
			sup := testSupervisor(sink)
			sup.backoff = 50 * time.Millisecond // the GET below lands in it
			cancel, wait := runSupervisor(t, sup, svc)
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
			get := func() string {
				t.Helper()
				resp, err := c.Get("http://" + ln.Addr().String() + "/")
				if err != nil {
					t.Fatalf("GET during the restart: %v", err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			if got := get(); got != "run 1" {
				t.Fatalf("first GET = %q, want run 1", got)
			}
			close(crash)
			for deadline := time.Now().Add(5 * time.Second); len(sink.decisions()) == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the supervisor recorded no restart")
				}
			}
			// The service is down for the backoff: the connection waits.
			if got := get(); got != "run 2" {
				t.Errorf("GET during the restart = %q, want run 2", got)
			}
			if diff := cmp.Diff([]string{"SERVICE web restart"}, sink.decisions()); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
			cancel()
			if err := wait(); err != nil {
				t.Errorf("run after cancel = %v, want nil", err)
			}
		})
	}
}

// TestSupervisorGivesUp keeps a service failing: run returns an error
// naming it once it stopped more than maxRestarts times, after ending the
// healthy services too.
func TestSupervisorGivesUp(t *testing.T) {
	healthyEnded := make(chan struct{})
	healthy := service{name: "egress", serve: func(ctx context.Context) error {
		<-ctx.Done()
		close(healthyEnded)
		return nil
	}}
	flaky := service{name: "dns", serve: func(context.Context) error { return errors.New("socket gone") }}
	sink := &events{}
	_, wait := runSupervisor(t, testSupervisor(sink), healthy, flaky)
	err := wait()
	if err == nil || !strings.Contains(err.Error(), "dns") || !strings.Contains(err.Error(), "socket gone") {
		t.Fatalf("run = %v, want an error naming dns and its last failure", err)
	}
	select {
	case <-healthyEnded:
	default:
		t.Error("the healthy service was still running when run returned")
	}
	want := []string{"SERVICE dns restart", "SERVICE dns restart", "SERVICE dns fail"}
	if diff := cmp.Diff(want, sink.decisions()); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// TestSupervisorForgetsOldStops restarts a service that stops now and
// then forever: only the stops within the window count.
func TestSupervisorForgetsOldStops(t *testing.T) {
	s := testSupervisor(nil)
	s.window = 20 * time.Millisecond
	var runs atomic.Int32
	svc := service{name: "egress", serve: func(ctx context.Context) error {
		if runs.Add(1) > 6 {
			<-ctx.Done()
			return nil
		}
		time.Sleep(30 * time.Millisecond)
		return errors.New("stopped")
	}}
	cancel, wait := runSupervisor(t, s, svc)
	for deadline := time.Now().Add(5 * time.Second); runs.Load() <= 6; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the service ran %d times, want 7: run = %v", runs.Load(), wait())
		}
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("run = %v, want nil: no two stops were within the window", err)
	}
}

// TestSupervisorStopsOnCancel cancels a supervisor of an HTTP service and
// a DNS one: run returns nil once both ended, and status said up before.
func TestSupervisorStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := hold(ln)
	defer func() { _ = held.Close() }()
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	var current atomic.Pointer[policy.Policy]
	current.Store(&policy.Policy{})
	dns, closeDNS, err := dnsService("127.0.0.1:0", &current, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDNS()
	s := testSupervisor(nil)
	cancel, wait := runSupervisor(t, s, httpService("egress", srv, held, time.Second), dns)
	for {
		if st := s.status(); st["egress"] == "up" && st["dns"] == "up" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := wait(); err != nil {
		t.Errorf("run after cancel = %v, want nil", err)
	}
}

// TestHeldPacketConnAcrossViews closes a view during a read, as the DNS
// server does when it stops: the read ends, the socket stays, and the
// next view reads the datagram sent meanwhile.
func TestHeldPacketConnAcrossViews(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := holdPacket(pc)
	defer func() { _ = held.Close() }()
	v1 := held.view()
	read := make(chan error, 1)
	go func() {
		_, _, err := v1.ReadFrom(make([]byte, 16))
		read <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := v1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-read; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed view = %v, want net.ErrClosed", err)
	}
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	v2 := held.view()
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := v2.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "query" {
		t.Fatalf("the next view read %q, %v; want the datagram", buf[:n], err)
	}
}
