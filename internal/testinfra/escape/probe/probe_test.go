//go:build linux

package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	if r := probeTCP(t.Context(), ln.Addr().String()); !r.Reached || !strings.Contains(r.Detail, `read "hello\n"`) {
		t.Errorf("probeTCP(live) = %+v, want reached with hello", r)
	}
	if r := probeTCP(t.Context(), closedAddr(t, "tcp")); r.Reached {
		t.Errorf("probeTCP(closed) = %+v, want not reached", r)
	}
}

func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	if r := probeUDP(t.Context(), pc.LocalAddr().String()); !r.Reached || !strings.Contains(r.Detail, `reply "probe"`) {
		t.Errorf("probeUDP(live) = %+v, want reached with the echo", r)
	}
	if r := probeUDP(t.Context(), closedAddr(t, "udp")); r.Reached {
		t.Errorf("probeUDP(closed) = %+v, want not reached", r)
	}
}

func TestHTTP(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok " + r.URL.Path)) })
	plain := httptest.NewServer(h)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(h) // its certificate is not trusted
	defer tlsSrv.Close()
	for _, u := range []string{plain.URL + "/x", tlsSrv.URL + "/x"} {
		if r := probeHTTP(t.Context(), u); !r.Reached || !strings.Contains(r.Detail, `200 OK`) || !strings.Contains(r.Detail, `"ok /x"`) {
			t.Errorf("probeHTTP(%s) = %+v, want reached with 200", u, r)
		}
	}
	if r := probeHTTP(t.Context(), "http://"+closedAddr(t, "tcp")+"/"); r.Reached {
		t.Errorf("probeHTTP(closed) = %+v, want not reached", r)
	}
	// A TCP listener that never speaks HTTP: connected counts as reached.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if r := probeHTTP(t.Context(), "http://"+ln.Addr().String()+"/"); !r.Reached || !strings.Contains(r.Detail, "connected to") {
		t.Errorf("probeHTTP(mute) = %+v, want reached after connecting", r)
	}
}

func TestICMP(t *testing.T) {
	r := probeICMP(t.Context(), net.IPv4(127, 0, 0, 1))
	t.Logf("probeICMP(127.0.0.1) = %+v", r)
	if os.Geteuid() == 0 && (!r.Reached || !strings.Contains(r.Detail, "raw: echo reply from 127.0.0.1")) {
		t.Errorf("as root, probeICMP(127.0.0.1) = %+v, want a raw echo reply", r)
	}
	if r.Op != hits.OpICMP || r.Target != "127.0.0.1" || !strings.Contains(r.Detail, "dgram: ") {
		t.Errorf("probeICMP(127.0.0.1) = %+v, want both attempts reported", r)
	}
}

func TestEchoMessages(t *testing.T) {
	req := echoRequest(0x1234, 1, []byte("hi"))
	if want := []byte{8, 0, 0x7d, 0x61, 0x12, 0x34, 0, 1, 'h', 'i'}; !bytes.Equal(req, want) {
		t.Errorf("echoRequest = %x, want %x", req, want)
	}
	if checksum(req) != 0 {
		t.Errorf("checksum of a checksummed message = %#x, want 0", checksum(req))
	}
	reply := append([]byte{0}, req[1:]...)
	for _, tc := range []struct {
		name    string
		b       []byte
		id      uint16
		checkID bool
		want    bool
	}{
		{"reply", reply, 0x1234, true, true},
		{"other-id", reply, 0x9999, true, false},
		{"kernel-id", reply, 0x9999, false, true},
		{"request", req, 0x1234, true, false},
		{"short", reply[:7], 0x1234, true, false},
	} {
		if got := isEchoReply(tc.b, tc.id, 1, tc.checkID); got != tc.want {
			t.Errorf("%s: isEchoReply = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"reached", []string{"tcp", ln.Addr().String()}, 0},
		{"not-reached", []string{"tcp", closedAddr(t, "tcp")}, 1},
		{"no-args", nil, 2},
		{"unknown-op", []string{"smtp", "x:25"}, 2},
		{"no-port", []string{"tcp", "127.0.0.1"}, 2},
		{"extra-arg", []string{"udp", "127.0.0.1:7", "x"}, 2},
		{"bad-ip", []string{"icmp", "example.test"}, 2},
		{"bad-type", []string{"dns", "a.test", "BOGUS"}, 2},
		{"dns-too-many", []string{"dns", "a.test", "A", "127.0.0.1:53", "x"}, 2},
		{"bad-url", []string{"http", "ftp://x/"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("run(%q) = %d, want %d; stderr %s", tc.args, code, tc.code, stderr.String())
			}
			if tc.code == 2 {
				if stdout.Len() != 0 || !strings.Contains(stderr.String(), "usage:") {
					t.Errorf("run(%q): stdout %q, stderr %q; want usage on stderr only", tc.args, stdout.String(), stderr.String())
				}
				return
			}
			if bytes.Count(stdout.Bytes(), []byte("\n")) != 1 {
				t.Errorf("run(%q) printed %q, want one line", tc.args, stdout.String())
			}
			r, err := hits.ParseProbe(stdout.Bytes())
			if err != nil || r.Op != "tcp" || r.Target != tc.args[1] || r.Reached != (tc.code == 0) || r.Detail == "" {
				t.Errorf("run(%q) printed %q (%v)", tc.args, stdout.String(), err)
			}
		})
	}
}

func TestFileOps(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", dir+"/s.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tests := []struct {
		args    []string
		reached bool
		mode    os.FileMode
	}{
		{[]string{"create", dir + "/a", "0640"}, true, 0o640},
		{[]string{"create", dir + "/a", "0640"}, false, 0o640},
		{[]string{"chmod", dir + "/a", "0700"}, true, 0o700},
		{[]string{"chmod", dir + "/missing", "0700"}, false, 0},
		{[]string{"unix", dir + "/s.sock"}, true, 0},
		{[]string{"unix", dir + "/none.sock"}, false, 0},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		code := run(t.Context(), tt.args, &out, os.Stderr)
		r, err := hits.ParseProbe(out.Bytes())
		if err != nil || r.Reached != tt.reached || (code == 0) != tt.reached {
			t.Errorf("probe %v = %d %+v %v, want reached %v", tt.args, code, r, err, tt.reached)
		}
		if tt.mode != 0 {
			if st, err := os.Stat(tt.args[1]); err != nil || st.Mode().Perm() != tt.mode {
				t.Errorf("after probe %v: %v %v, want mode %v", tt.args, st.Mode(), err, tt.mode)
			}
		}
	}
	for _, args := range [][]string{{"create", dir + "/b"}, {"create", dir + "/b", "9"}, {"unix", dir + "/s.sock", "x"}} {
		if code := run(t.Context(), args, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
			t.Errorf("probe %v = %d, want 2", args, code)
		}
	}
}
