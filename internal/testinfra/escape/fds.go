package escape

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// leakedFile is what the launcher's leaked file holds.
const leakedFile = "bb-leaked-file-5c1d"

// fdScript lists, for every process of the bottle whose descriptors the
// agent can reach (this shell itself at least), each one
// above 2 with what it is, and tries to use it; then it tries to use
// every low number from the shell. It ends with how many processes it
// could reach. A process whose descriptors it may list but not open (the
// native init, undumpable) has nothing it can use. Listings go through a
// file: a command substitution would show its own pipe in this shell.
const fdScript = `echo "self $$"
n=0
list="$HOME/.bb-fd-list-$$"
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  ls "$p/fd" > "$list" 2>/dev/null || continue
  if ! readlink "$p/fd/0" >/dev/null 2>&1 && ! readlink "$p/fd/1" >/dev/null 2>&1; then
    echo "unreachable $pid $(cat "$p/comm" 2>/dev/null)"
    continue
  fi
  n=$((n+1))
  echo "reached $pid $(cat "$p/comm" 2>/dev/null)"
  for fd in $(cat "$list"); do
    [ "$fd" -gt 2 ] || continue
    echo "LEAK pid $pid ($(cat "$p/comm" 2>/dev/null)) fd $fd -> $(readlink "$p/fd/$fd")"
    timeout 2 head -c 64 "$p/fd/$fd" 2>/dev/null
    timeout 2 sh -c 'echo used-from-the-bottle > "$1"' - "$p/fd/$fd" 2>/dev/null && echo "LEAK wrote to pid $pid fd $fd"
  done
done
rm -f "$list"
for fd in 3 4 5 6 7 8 9; do
  { echo used-from-the-bottle >&$fd; } 2>/dev/null && echo "LEAK wrote to inherited fd $fd"
done
echo "processes reached: $n"`

// runInheritedFDs starts a bottle from a process that holds, without
// close-on-exec, a TCP connection to a listener of the test and a file,
// as a careless launcher (or its shell) would, and looks for them in the
// bottle's main command and in a command exec'd there.
func (h *Harness) runInheritedFDs(t *testing.T, slug string) {
	t.Run("descriptors the launching process leaked", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
			data, _ := io.ReadAll(c)
			got <- data
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sock, err := conn.(*net.TCPConn).File()
		_ = conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "leaked")
		if err := os.WriteFile(path, []byte(leakedFile+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []*os.File{sock, file} {
			// Go opens everything close-on-exec; a shell's or another
			// program's descriptors often are not.
			if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
				t.Fatal(err)
			}
		}
		// The descriptors do reach a child of this process: the check
		// below proves something.
		script := fmt.Sprintf("test -e /proc/self/fd/%d && test -e /proc/self/fd/%d", sock.Fd(), file.Fd())
		if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil { //nolint:gosec // G204: the test's own check
			t.Fatalf("a host child does not inherit the leaked descriptors; the check proves nothing: %v\n%s", err, out)
		}
		// The main command has a child check what it inherited (its own
		// redirection would show bash's saved descriptors), then sleeps;
		// a command exec'd there checks itself and what else it reaches.
		spec := h.Spec(t, slug)
		spec.Command = []string{"bash", "-c", `bash -c "$0" > "$HOME/main-fds" 2>&1; exec sleep infinity`, fdScript}
		t.Cleanup(func() { _ = h.Backend.Stop(context.Background(), slug) })
		var progress bytes.Buffer
		if err := h.Backend.Start(context.Background(), spec, &progress); err != nil {
			t.Fatalf("starting bottle %s: %v\n%s", slug, err, progress.String())
		}
		// Only the start had to run with them.
		_ = sock.Close()
		_ = file.Close()
		var main string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			main, _ = h.sh(t, slug, "cat \"$HOME/main-fds\" 2>/dev/null")
			if strings.Contains(main, "processes reached: ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the main command did not report its descriptors:\n%s", main)
			}
		}
		execd, _ := h.sh(t, slug, fdScript)
		for _, r := range []struct{ who, out string }{{"the main command", main}, {"an exec'd command", execd}} {
			self := regexp.MustCompile(`(?m)^self ([0-9]+)$`).FindStringSubmatch(r.out)
			if self == nil || !regexp.MustCompile(`(?m)^reached `+self[1]+` bash$`).MatchString(r.out) {
				t.Errorf("%s could not check its own descriptors; the check proves nothing:\n%s", r.who, r.out)
			}
			if strings.Contains(r.out, "LEAK") || strings.Contains(r.out, leakedFile) {
				t.Errorf("a descriptor of the launching process reached %s:\n%s", r.who, r.out)
			}
		}
		// With this process's copy closed, the listener sees the end of
		// the connection at once unless another process holds it: the
		// bottle's, or its sidecar, supervisor or init on the host.
		select {
		case data := <-got:
			if len(data) > 0 {
				t.Errorf("the leaked connection carried %q from the bottle", data)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("the leaked connection is still open: a process of the bottle or its sidecar holds it")
		}
		if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, []byte(leakedFile+"\n")) {
			t.Errorf("the leaked file changed: %q %v", data, err)
		}
	})
}
