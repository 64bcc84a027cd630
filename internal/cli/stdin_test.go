//go:build linux

package cli_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// checkStdin: without a terminal, start -- CMD gives the command the
// CLI's stdin: what is piped in arrives and its end ends the input, and
// an empty stdin is closed, not held open (a command reading it would
// wait forever).
func checkStdin(t *testing.T, w *world) {
	t.Helper()
	c := w.cmd("start", "example", "--yes", "--", "sh", "-c", `cat; echo "end of input"`)
	c.Stdin = strings.NewReader("piped\ninto the bottle\n")
	out := runWithin(t, c, 3*time.Minute)
	if !strings.Contains(out, "piped\ninto the bottle\nend of input\n") {
		t.Errorf("piped stdin: output\n%s\nwant the piped lines, then end of input", out)
	}
	c = w.cmd("start", "example", "--yes", "--", "sh", "-c", `cat; echo "end of input"`)
	out = runWithin(t, c, 3*time.Minute)
	if !strings.Contains(out, "end of input\n") {
		t.Errorf("empty stdin: output\n%s\nwant end of input", out)
	}
}

// runWithin runs c and returns its combined output; it fails t when c
// exits with an error or is still running after d (then it is killed).
func runWithin(t *testing.T, c *exec.Cmd, d time.Duration) string {
	t.Helper()
	var out backendtest.SyncBuffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%q: %v\n%s", c.Args, err, out.String())
		}
	case <-time.After(d):
		_ = c.Process.Kill()
		<-done
		t.Fatalf("%q still running after %s:\n%s", c.Args, d, out.String())
	}
	return out.String()
}

func TestDockerStdin(t *testing.T) { checkStdin(t, newWorld(t)) }

func TestNativeStdin(t *testing.T) { checkStdin(t, newNativeWorld(t)) }
