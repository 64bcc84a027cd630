package cli_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/registry"
	"github.com/bot-bottle/bot-bottle/internal/cli"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakebackend"
)

// TestLifecycleScripts runs testdata/lifecycle/*.txtar in-process against
// the in-memory fake backend: start, attach, exec, stop, cleanup and
// resume through the real commands, with one fake per script. Commands:
//
//	bb ARGS...        runs bot-bottle ARGS in this process (! for a failure)
//	status N          checks the last bb's exit status
//	setslug           sets $SLUG to the last bb's standard output
//	fake break SLUG   breaks the bottle's sidecar (List then says partial)
//	fake orphan SLUG  makes the bottle's owner a process that is gone
func TestLifecycleScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "lifecycle"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("BOT_BOTTLE_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("HOME", filepath.Join(env.WorkDir, "userhome"))
			env.Setenv("NO_COLOR", "1")
			env.Values[fakeKey{}] = fakebackend.New("fake")
			return nil
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"bb":      cmdBB,
			"status":  cmdStatus,
			"setslug": cmdSetSlug,
			"fake":    cmdFake,
		},
	})
}

type fakeKey struct{}

func fakeOf(ts *testscript.TestScript) *fakebackend.Backend {
	return ts.Value(fakeKey{}).(*fakebackend.Backend)
}

func cmdBB(ts *testscript.TestScript, neg bool, args []string) {
	fb := fakeOf(ts)
	ios, _, out, errOut := cli.TestIO()
	env := &cli.Env{
		IO:          ios,
		LookupEnv:   func(k string) (string, bool) { v := ts.Getenv(k); return v, v != "" },
		Getwd:       func() (string, error) { return ts.MkAbs("."), nil },
		UserHomeDir: func() (string, error) { return ts.Getenv("HOME"), nil },
		Log:         slog.New(slog.DiscardHandler),
		// One fake for every command of the script: its bottles live
		// as long as the script, like a daemon's.
		Backends: registry.New(registry.Entry{Name: "fake", New: func(registry.Config) (backend.Backend, error) { return fb, nil }}),
	}
	code := cli.Main(context.Background(), args, env)
	_, _ = ts.Stdout().Write(out.Bytes())
	_, _ = ts.Stderr().Write(errOut.Bytes())
	ts.Setenv("BB_STATUS", strconv.Itoa(code))
	switch {
	case neg && code == 0:
		ts.Fatalf("bot-bottle %s succeeded, want a failure", strings.Join(args, " "))
	case !neg && code != 0:
		ts.Fatalf("bot-bottle %s: exit status %d", strings.Join(args, " "), code)
	}
}

func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: status N")
	}
	if got := ts.Getenv("BB_STATUS"); got != args[0] {
		ts.Fatalf("last bot-bottle exited with status %s, want %s", got, args[0])
	}
}

func cmdSetSlug(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: setslug")
	}
	slug := strings.TrimSpace(ts.ReadFile("stdout"))
	if slug == "" || strings.ContainsAny(slug, " \n") {
		ts.Fatalf("stdout is not one slug: %q", slug)
	}
	ts.Setenv("SLUG", slug)
}

func cmdFake(ts *testscript.TestScript, neg bool, args []string) {
	const usage = "usage: fake break|orphan SLUG | fake propose SLUG HOST METHOD PATH | [!] fake allows SLUG HOST METHOD PATH"
	if len(args) < 2 {
		ts.Fatalf(usage)
	}
	fb, slug := fakeOf(ts), args[1]
	switch {
	case args[0] == "break" && len(args) == 2 && !neg:
		fb.BreakSidecar(slug)
	case args[0] == "orphan" && len(args) == 2 && !neg:
		pid, err := backendtest.DeadPID()
		ts.Check(err)
		fb.SetOwner(slug, pid)
	case args[0] == "propose" && len(args) == 5 && !neg:
		// What the agent's request_route does in a real sidecar.
		board := fb.Board(slug)
		if board == nil {
			ts.Fatalf("bottle %s has no board", slug)
		}
		p, err := board.RequestRoute(context.Background(), supervise.RouteRequest{Host: args[2], Methods: []string{args[3]}, Paths: []supervise.PathSpec{{Type: "prefix", Value: args[4]}}, Reason: "the script asks \x1b[31m"})
		ts.Check(err)
		ts.Setenv("PROPOSAL", p.ID)
	case args[0] == "allows" && len(args) == 5:
		ok := false
		if rt, found := fb.CurrentPolicy(slug).Lookup(args[2]); found {
			ok = rt.Allows(args[3], args[4], nil)
		}
		if ok == neg {
			ts.Fatalf("bottle %s allows %s %s%s: %v", slug, args[3], args[2], args[4], ok)
		}
	default:
		ts.Fatalf(usage)
	}
}
