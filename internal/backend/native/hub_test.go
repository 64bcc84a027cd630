//go:build linux

package native

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"

	"github.com/creack/pty"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	for _, f := range []frame{{frameStdout, []byte("out")}, {frameStderr, nil}, {frameExit, exitFrame(-1)}} {
		if err := writeFrame(&buf, f.kind, f.data); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []frame{{frameStdout, []byte("out")}, {frameStderr, []byte{}}, {frameExit, exitFrame(-1)}} {
		kind, data, err := readFrame(&buf)
		if err != nil || kind != want.kind || !bytes.Equal(data, want.data) {
			t.Fatalf("readFrame = %q %q %v, want %q %q", kind, data, err, want.kind, want.data)
		}
	}
	if _, _, err := readFrame(&buf); !errors.Is(err, io.EOF) {
		t.Fatalf("readFrame at the end = %v, want EOF", err)
	}
	big := []byte{frameStdin, 0xff, 0xff, 0xff, 0xff}
	if _, _, err := readFrame(bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("readFrame of a 4 GiB frame = %v, want the limit's error", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
	}
}

// serveHub serves h on a socket in a temporary folder and returns its path.
func serveHub(t *testing.T, h *hub) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "attach.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go h.serve(ln)
	return sock
}

func (h *hub) peerCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.peers)
}

type attachResult struct {
	status int
	err    error
}

func attachAsync(ctx context.Context, sock string, s backend.Stdio) <-chan attachResult {
	got := make(chan attachResult, 1)
	go func() {
		status, err := attachSocket(ctx, sock, "test", s)
		got <- attachResult{status, err}
	}()
	return got
}

func TestAttachReplaysStreamsAndStatus(t *testing.T) {
	var logged backendtest.SyncBuffer
	h := newHub(false, nil, &logged, slog.New(slog.DiscardHandler))
	sock := serveHub(t, h)
	h.write(frameStdout, []byte("before "))
	h.write(frameStderr, []byte("err-before "))
	var out, errOut backendtest.SyncBuffer
	got := attachAsync(t.Context(), sock, backend.Stdio{Stdout: &out, Stderr: &errOut})
	waitFor(t, "the client", func() bool { return h.peerCount() == 1 })
	h.write(frameStdout, []byte("after"))
	h.finish(7, time.Second)
	r := <-got
	if r.err != nil || r.status != 7 {
		t.Fatalf("attach = %d, %v; want 7, nil", r.status, r.err)
	}
	if out.String() != "before after" || errOut.String() != "err-before " {
		t.Errorf("attach got stdout %q, stderr %q; want %q, %q", out.String(), errOut.String(), "before after", "err-before ")
	}
	if logged.String() != "before err-before after" {
		t.Errorf("log = %q", logged.String())
	}
	// A client that comes after the end learns the status alone.
	if status, err := attachSocket(t.Context(), sock, "test", backend.Stdio{}); err != nil || status != 7 {
		t.Errorf("attach after the end = %d, %v; want 7, nil", status, err)
	}
}

func TestAttachReplayIsBounded(t *testing.T) {
	h := newHub(false, nil, io.Discard, slog.New(slog.DiscardHandler))
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for range 40 {
		h.write(frameStdout, chunk)
	}
	if h.replayN > replayMax || h.replayN < replayMax-len(chunk) {
		t.Fatalf("replay holds %d bytes, want at most %d and near it", h.replayN, replayMax)
	}
}

func TestAttachDetachLeavesTheHub(t *testing.T) {
	h := newHub(false, nil, io.Discard, slog.New(slog.DiscardHandler))
	sock := serveHub(t, h)
	ctx, cancel := context.WithCancel(t.Context())
	got := attachAsync(ctx, sock, backend.Stdio{})
	waitFor(t, "the client", func() bool { return h.peerCount() == 1 })
	cancel()
	if r := <-got; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("attach after cancel = %d, %v; want context.Canceled", r.status, r.err)
	}
	waitFor(t, "the hub to drop the client", func() bool { return h.peerCount() == 0 })
	// The hub carries on for the next client.
	h.write(frameStdout, []byte("more"))
}

func TestAttachCtrlCDetachesFromATerminalLessCommand(t *testing.T) {
	h := newHub(false, nil, io.Discard, slog.New(slog.DiscardHandler))
	sock := serveHub(t, h)
	stdin, typed := io.Pipe()
	got := attachAsync(t.Context(), sock, backend.Stdio{Stdin: stdin, TTY: true})
	waitFor(t, "the client", func() bool { return h.peerCount() == 1 })
	if _, err := typed.Write([]byte("ab\x03")); err != nil {
		t.Fatal(err)
	}
	if r := <-got; !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), "runs on") {
		t.Fatalf("attach after Ctrl-C = %d, %v; want a detach", r.status, r.err)
	}
}

func TestAttachTerminalInputAndSize(t *testing.T) {
	master, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = master.Close(); _ = tty.Close() }()
	h := newHub(true, master, io.Discard, slog.New(slog.DiscardHandler))
	sock := serveHub(t, h)
	stdin, typed := io.Pipe()
	resize := make(chan [2]uint, 1)
	resize <- [2]uint{33, 111}
	got := attachAsync(t.Context(), sock, backend.Stdio{Stdin: stdin, TTY: true, Resize: resize})
	waitFor(t, "the size", func() bool {
		rows, cols, err := pty.Getsize(tty)
		return err == nil && rows == 33 && cols == 111
	})
	if _, err := typed.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 64)
	n, err := tty.Read(line)
	if err != nil || string(line[:n]) != "hello\n" {
		t.Fatalf("the terminal read %q, %v; want %q", line[:n], err, "hello\n")
	}
	h.finish(0, time.Second)
	if r := <-got; r.err != nil || r.status != 0 {
		t.Fatalf("attach = %d, %v", r.status, r.err)
	}
}

func TestAttachRefusesAnotherVersion(t *testing.T) {
	h := newHub(false, nil, io.Discard, slog.New(slog.DiscardHandler))
	sock := serveHub(t, h)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := writeHello(c, hello{Version: attachVersion + 1}); err != nil {
		t.Fatal(err)
	}
	got, err := readHello(c)
	if err != nil || got.Error == "" {
		t.Fatalf("hello of another version = %+v, %v; want a refusal", got, err)
	}
}
