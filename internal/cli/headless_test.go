//go:build linux

package cli_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// checkHeadless: start --headless --prompt runs the agent CLI's one-shot
// command (the example agent's shell bottle: bash -lc PROMPT) without a
// question, its output alone on stdout, the preflight on stderr, and
// exits with its status.
func checkHeadless(t *testing.T, w *world) {
	t.Helper()
	c := w.cmd("start", "example", "--headless", "--prompt", `echo "headless $((6*7)) $0"; exit 3`)
	var stdout, stderr backendtest.SyncBuffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	ee, ok := errors.AsType[*exec.ExitError](err)
	if !ok || ee.ExitCode() != 3 {
		t.Fatalf("headless start = %v, want exit status 3\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if got := stdout.String(); got != "headless 42 bash\n" {
		t.Errorf("stdout = %q, want the agent's output alone: %q\nstderr:\n%s", got, "headless 42 bash\n", stderr.String())
	}
	if !strings.Contains(stderr.String(), "command    bash -lc ") {
		t.Errorf("stderr has no preflight with the headless command:\n%s", stderr.String())
	}
}

func TestDockerHeadless(t *testing.T) { checkHeadless(t, newWorld(t)) }

func TestNativeHeadless(t *testing.T) { checkHeadless(t, newNativeWorld(t)) }

// checkHeadlessOnATerminal: started from a terminal, a headless run's
// command does not wait for the terminal's input to end (codex exec reads
// a stdin that is not a terminal to its end): its stdin is closed.
func checkHeadlessOnATerminal(t *testing.T, w *world) {
	t.Helper()
	term := w.onTerminal("start", "example", "--headless", "--prompt", `cat; echo "stdin-closed"`)
	term.expect("stdin-closed")
	if code := term.exit(); code != 0 {
		t.Errorf("headless start on a terminal exited %d:\n%s", code, term.out.String())
	}
}

func TestDockerHeadlessOnATerminal(t *testing.T) { checkHeadlessOnATerminal(t, newWorld(t)) }

func TestNativeHeadlessOnATerminal(t *testing.T) { checkHeadlessOnATerminal(t, newNativeWorld(t)) }
