package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestReport(t *testing.T) {
	cmd := &cobra.Command{Use: "bot-bottle"}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want ExitCode
		out  string
	}{
		{"ok", context.Background(), nil, ExitOK, ""},
		{"ok-after-cancel", canceled, nil, ExitOK, ""},
		{"silent", context.Background(), fmt.Errorf("starting: %w", SilentError{Code: ExitBlocked}), ExitBlocked, ""},
		{"flag", context.Background(), flagErrorf("bad %s", "flag"), ExitUsage, "bot-bottle: bad flag\nRun 'bot-bottle --help' for usage.\n"},
		{"canceled", context.Background(), fmt.Errorf("waiting: %w", context.Canceled), ExitCancel, "bot-bottle: interrupted\n"},
		{"error-after-cancel", canceled, errors.New("signal: interrupt"), ExitCancel, "bot-bottle: interrupted\n"},
		{"error", context.Background(), errors.New("boom"), ExitError, "bot-bottle: boom\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			if got := report(tt.ctx, &w, cmd, tt.err); got != tt.want {
				t.Errorf("report(%v) = %d, want %d", tt.err, got, tt.want)
			}
			if w.String() != tt.out {
				t.Errorf("report(%v) printed %q, want %q", tt.err, w.String(), tt.out)
			}
		})
	}
}

// TestMainUsage checks that bad usage exits 2 with one message and the
// failing command's hint, and nothing on stdout.
func TestMainUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, "bot-bottle: unknown command \"nope\" for \"bot-bottle\"\nRun 'bot-bottle --help' for usage.\n"},
		{[]string{"--nope"}, "bot-bottle: unknown flag: --nope\nRun 'bot-bottle --help' for usage.\n"},
		{[]string{"version", "--nope"}, "bot-bottle: unknown flag: --nope\nRun 'bot-bottle version --help' for usage.\n"},
		{[]string{"version", "x"}, "bot-bottle: bot-bottle version takes 0 argument(s), got 1\nRun 'bot-bottle version --help' for usage.\n"},
		{[]string{"completion", "nosh"}, "bot-bottle: unknown command \"nosh\" for \"bot-bottle completion\"\nRun 'bot-bottle completion --help' for usage.\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			env, output := testEnv(t)
			if got := Main(context.Background(), tt.args, env); got != int(ExitUsage) {
				t.Errorf("Main(%q) = %d, want %d", tt.args, got, ExitUsage)
			}
			out, errOut := output()
			if out != "" || errOut != tt.want {
				t.Errorf("Main(%q) printed stdout %q, stderr %q; want stdout \"\", stderr %q", tt.args, out, errOut, tt.want)
			}
		})
	}
}

// TestMainOutputThroughIO checks that help and completion scripts, which
// cobra writes itself, go to env.IO.
func TestMainOutputThroughIO(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Exit status:"},
		{[]string{"--help"}, "BOT_BOTTLE_LOG_LEVEL"},
		{[]string{"help", "version"}, "--json"},
		{[]string{"completion", "bash"}, "__start_bot-bottle"},
		{[]string{"completion", "zsh"}, "#compdef bot-bottle"},
		{[]string{"completion", "fish"}, "complete -c bot-bottle"},
		{[]string{"completion", "powershell"}, "Register-ArgumentCompleter -CommandName 'bot-bottle'"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"root"}, tt.args...), "_"), func(t *testing.T) {
			env, output := testEnv(t)
			if got := Main(context.Background(), tt.args, env); got != int(ExitOK) {
				t.Errorf("Main(%q) = %d, want 0", tt.args, got)
			}
			out, errOut := output()
			if !strings.Contains(out, tt.want) || errOut != "" {
				t.Errorf("Main(%q) printed stdout %q, stderr %q; want %q on stdout and nothing on stderr", tt.args, out, errOut, tt.want)
			}
		})
	}
}

// TestUsageErrors checks that cobra's own argument and flag checks, which
// return plain errors, come out as FlagError.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"exact-args", []string{"leaf"}, "accepts 1 arg(s), received 0"},
		{"required-flag", []string{"leaf", "x"}, `required flag(s) "must" not set`},
		{"exclusive-flags", []string{"leaf", "x", "--must", "--a", "--b"}, "if any flags in the group [a b] are set none of the others can be"},
		{"unknown-subcommand", []string{"group", "nope"}, `unknown command "nope" for "root group"`},
		{"suggestion", []string{"group", "sup"}, "Did you mean this?\n\tsub\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := &cobra.Command{Use: "root", SilenceErrors: true, SilenceUsage: true}
			group := &cobra.Command{Use: "group", SuggestionsMinimumDistance: 2}
			group.AddCommand(&cobra.Command{Use: "sub", Run: func(*cobra.Command, []string) {}})
			leaf := &cobra.Command{Use: "leaf", Args: cobra.ExactArgs(1), Run: func(*cobra.Command, []string) {}}
			leaf.Flags().Bool("must", false, "")
			leaf.Flags().Bool("a", false, "")
			leaf.Flags().Bool("b", false, "")
			if err := leaf.MarkFlagRequired("must"); err != nil {
				t.Fatal(err)
			}
			leaf.MarkFlagsMutuallyExclusive("a", "b")
			root.AddCommand(group, leaf)
			usageErrors(root)
			root.SetArgs(tt.args)
			root.SetOut(io.Discard)
			root.SetErr(io.Discard)

			err := root.Execute()
			if _, ok := errors.AsType[FlagError](err); !ok || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Execute(%q) = %#v, want a FlagError containing %q", tt.args, err, tt.want)
			}
		})
	}
}
