//go:build linux

package inside

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bot-bottle/bot-bottle/internal/sandbox/fds"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/landlock"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/seccomp"
)

// ExecRole is the hidden subcommand the init runs the exec helper as.
const ExecRole = "bottle-exec"

// Exec is the exec helper: it locks the process down and replaces it
// with the command. args are [--writable DIR]... -- CMD [ARG]...; it
// returns only on failure.
func Exec(args []string, stderr io.Writer) int {
	var rw, cmd []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--writable":
			if i+1 < len(args) {
				rw = append(rw, args[i+1])
				i++
			}
		case "--":
			cmd = args[i+1:]
			i = len(args)
		}
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bot-bottle: %v\n", err)
		return 126
	}
	if len(cmd) == 0 {
		return fail(errors.New("exec helper: no command"))
	}
	if err := lockDown(rw); err != nil {
		return fail(err)
	}
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		fmt.Fprintf(stderr, "bot-bottle: %v\n", err)
		return 127
	}
	// Only standard input, output and error enter the command, whatever
	// this process was handed.
	if err := fds.CloseOnExec(fds.First); err != nil {
		return fail(err)
	}
	err = syscall.Exec(path, cmd, os.Environ()) //nolint:gosec // G204: running the agent's command is the point

	return fail(fmt.Errorf("exec %s: %w", path, err))
}

// lockDown sets no_new_privs, restricts writes to writable with Landlock,
// then applies the seccomp filter, each where the kernel has it (the
// preflight says when it does not). Landlock goes first: the filter would
// not stop it, but its rules must be in place before anything else runs.
func lockDown(writable []string) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	if landlock.ABI() > 0 {
		if _, err := landlock.Apply(landlock.Rules{Writable: writable}); err != nil {
			return fmt.Errorf("applying Landlock: %w", err)
		}
	}
	if seccomp.Available() != nil {
		return nil
	}
	if err := seccomp.Install(); err != nil {
		return fmt.Errorf("installing the seccomp filter: %w", err)
	}
	return nil
}
