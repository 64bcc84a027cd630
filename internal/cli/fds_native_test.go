//go:build linux

package cli_test

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// leakedFiles are a TCP connection to a listener of the test and a file,
// for a bot-bottle process to inherit (as fds 7 and 8, by ExtraFiles:
// above those its own children get on purpose), as it would from a
// careless shell or launcher.
type leakedFiles struct {
	sock, file *os.File
	path       string
	// got is what the listener read by the end of the connection.
	got chan []byte
}

func leak(t *testing.T) *leakedFiles {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	l := &leakedFiles{got: make(chan []byte, 1), path: filepath.Join(t.TempDir(), "leaked")}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			l.got <- nil
			return
		}
		data, _ := io.ReadAll(c)
		l.got <- data
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if l.sock, err = conn.(*net.TCPConn).File(); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	if err := os.WriteFile(l.path, []byte("leaked-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if l.file, err = os.OpenFile(l.path, os.O_RDWR, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	return l
}

func (l *leakedFiles) close() { _ = l.sock.Close(); _ = l.file.Close() }

// inherit makes c start with the leaked files as its fds 7 and 8.
func (l *leakedFiles) inherit(c *exec.Cmd) *exec.Cmd {
	c.ExtraFiles = []*os.File{nil, nil, nil, nil, l.sock, l.file}
	return c
}

// fdCheck, run by bash (dash keeps a descriptor of its own), prints the
// descriptors of the bottle's command (listed by a
// child, into a file: a pipe would show in the list) and tries to use 3
// to 9.
const fdCheck = `ls /proc/$$/fd > "$HOME/fds-$$"; echo fds: $(cat "$HOME/fds-$$"); for fd in 3 4 5 6 7 8 9; do { echo from-the-bottle >&$fd; } 2>/dev/null && echo wr""ote to $fd; done; cat /proc/$$/fd/7 /proc/$$/fd/8 2>/dev/null; true`

func checkFDs(t *testing.T, what, out string) {
	t.Helper()
	if !strings.Contains(out, "fds: 0 1 2\n") || strings.Contains(out, "wrote to") || strings.Contains(out, "leaked-file") {
		t.Errorf("%s: the command inside got more than stdin, stdout and stderr:\n%s", what, out)
	}
}

func TestNativeInheritedDescriptors(t *testing.T) {
	w := newNativeWorld(t)
	l := leak(t)
	// The bottle's command of a start that inherited them.
	out, err := l.inherit(w.cmd("start", "example", "--yes", "--", "bash", "-c", fdCheck)).CombinedOutput()
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	checkFDs(t, "start", string(out))

	// A detached bottle: its supervisor, sidecar and init live on.
	c := l.inherit(w.cmd("start", "example", "--yes", "--detach", "--", "bash", "-c", `bash -c "$0" > "$HOME/main" 2>&1; exec sleep 600`, fdCheck))
	slugOut, err := c.Output()
	if err != nil {
		t.Fatalf("start --detach: %v", err)
	}
	slug := strings.TrimSpace(string(slugOut))
	// The main command's child's check: what the main command inherited.
	var main string
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(main, "fds: "); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the detached command did not report:\n%s", main)
		}
		main, _ = w.run("exec", slug, "--", "sh", "-c", `cat "$HOME/main" 2>/dev/null`)
	}
	checkFDs(t, "start --detach", main)
	// An exec that inherited them.
	out, err = l.inherit(w.cmd("exec", slug, "--", "bash", "-c", fdCheck)).CombinedOutput()
	if err != nil {
		t.Fatalf("exec: %v\n%s", err, out)
	}
	checkFDs(t, "exec", string(out))
	// With the test's copies closed, the listener sees the end of the
	// connection unless a process of the bottle (the supervisor, the
	// sidecar or the init on the host, or one inside) holds it.
	l.close()
	select {
	case data := <-l.got:
		if len(data) > 0 {
			t.Errorf("the leaked connection carried %q", data)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("the leaked connection is still open: a process of the detached bottle holds it")
	}
	if got, code := w.run("stop", slug); code != 0 {
		t.Fatalf("stop: %d\n%s", code, got)
	}
	if data, err := os.ReadFile(l.path); err != nil || string(data) != "leaked-file\n" {
		t.Errorf("the leaked file changed: %q %v", data, err)
	}
	w.requireNativeClean()
}
