// Command bot-bottle runs coding agents in bottles: sandboxes whose only way
// out is a policy-enforcing sidecar. main is thin: it never does more
// than close inherited descriptors, catch signals and call internal/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/bot-bottle/bot-bottle/internal/cli"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/fds"
)

func main() {
	// What this process inherited reaches nothing it runs: no bottle.
	if err := fds.CloseOnExec(fds.First); err != nil {
		fmt.Fprintln(os.Stderr, "bot-bottle:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.SystemEnv())
	stop()
	os.Exit(code)
}
