package fakebackend

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// commands are the argv[0]s the fake interprets.
var commands = map[string]bool{"echo": true, "exit": true, "true": true, "false": true, "cat": true, "sleep": true, "printenv": true}

// known reports whether the fake can run argv.
func known(argv []string) bool { return len(argv) > 0 && commands[argv[0]] }

// notFound is the status of a command the fake does not know.
const notFound = 127

// killed is the status of a command that Stop ended (128+SIGKILL).
const killed = 137

// run interprets argv as a tiny shell would, with env (KEY=VALUE, later
// entries win) and stdin, and returns its status. sleep blocks until its
// seconds pass or ctx or stop ends; cat copies stdin until EOF.
func run(ctx context.Context, stop <-chan struct{}, argv []string, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "fake: no command")
		return notFound
	}
	args := argv[1:]
	switch argv[0] {
	case "echo":
		fmt.Fprintln(stdout, strings.Join(args, " "))
		return 0
	case "exit":
		if len(args) == 0 {
			return 0
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			fmt.Fprintf(stderr, "fake: exit: %s: numeric argument required\n", args[0])
			return 2
		}
		return n & 0xff
	case "true":
		return 0
	case "false":
		return 1
	case "cat":
		if stdin != nil {
			if _, err := io.Copy(stdout, stdin); err != nil {
				fmt.Fprintf(stderr, "fake: cat: %v\n", err)
				return 1
			}
		}
		return 0
	case "sleep":
		// sleep N ends after N seconds; sleep or sleep infinity, never.
		var after <-chan time.Time
		if len(args) > 0 {
			if n, err := strconv.ParseFloat(args[0], 64); err == nil && n >= 0 && n < 1e6 {
				after = time.After(time.Duration(n * float64(time.Second)))
			}
		}
		select {
		case <-after:
			return 0
		case <-ctx.Done():
			return killed
		case <-stop:
			return killed
		}
	case "printenv":
		if len(args) == 0 {
			for _, kv := range env {
				fmt.Fprintln(stdout, kv)
			}
			return 0
		}
		v, ok := lookup(env, args[0])
		if !ok {
			return 1
		}
		fmt.Fprintln(stdout, v)
		return 0
	}
	fmt.Fprintf(stderr, "fake: %s: command not found\n", argv[0])
	return notFound
}

// lookup returns the last value of name in env.
func lookup(env []string, name string) (string, bool) {
	v, found := "", false
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v, found = val, true
		}
	}
	return v, found
}
