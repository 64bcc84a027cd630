package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bot-bottle/bot-bottle/internal/cli"
)

var update = flag.Bool("update", false, "rewrite testscript expectations (cmp files) from actual output")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"bot-bottle": func() { os.Exit(cli.Main(context.Background(), os.Args[1:], cli.SystemEnv())) },
	})
}

// TestScripts runs testdata/script/*.txtar against the real command tree,
// with BOT_BOTTLE_HOME=$WORK/home, HOME=$WORK/userhome and the working
// directory $WORK.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("BOT_BOTTLE_HOME", filepath.Join(env.WorkDir, "home"))
			env.Setenv("HOME", filepath.Join(env.WorkDir, "userhome"))
			env.Setenv("NO_COLOR", "1")
			return nil
		},
	})
}
