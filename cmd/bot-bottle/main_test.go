package main

import (
	"errors"
	"flag"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the cmp expectations in testdata/script from actual output")

// TestMain lets the scripts exec bot-bottle: the test binary re-runs itself
// as the real main, in its own process, with the script's environment.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"bot-bottle": main})
}

// TestScripts runs testdata/script/*.txtar with BOT_BOTTLE_HOME=$WORK/home,
// HOME=$WORK/userhome and the working directory $WORK. Run it with -update
// to rewrite cmp expectations.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exits": cmdExits},
		Setup: func(env *testscript.Env) error {
			env.Setenv("BOT_BOTTLE_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("HOME", filepath.Join(env.WorkDir, "userhome"))
			env.Setenv("NO_COLOR", "1")
			return nil
		},
	})
}

// cmdExits runs a program like exec and checks its exit status; stdout and
// stderr are then matched as after exec:
//
//	exits 2 bot-bottle frobnicate
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits status program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		ee, ok := errors.AsType[*exec.ExitError](err)
		if !ok {
			ts.Fatalf("running %s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
