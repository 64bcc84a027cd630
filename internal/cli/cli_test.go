package cli

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func testEnv(t *testing.T) (*Env, func() (string, string)) {
	t.Helper()
	ios, _, out, errOut := TestIO()
	home := t.TempDir()
	env := &Env{
		IO: ios,
		LookupEnv: func(k string) (string, bool) {
			if k == "BOT_BOTTLE_HOME" {
				return home, true
			}
			return "", false
		},
		Getwd:       func() (string, error) { return t.TempDir(), nil },
		UserHomeDir: func() (string, error) { return t.TempDir(), nil },
	}
	return env, func() (string, string) { return out.String(), errOut.String() }
}

func TestPlanFlags(t *testing.T) {
	tests := []struct {
		args []string
		want planOptions
		err  bool
	}{
		{[]string{"dev"}, planOptions{Agent: "dev"}, false},
		{[]string{"dev", "--bottle", "a", "-b", "b", "--json"}, planOptions{Agent: "dev", Bottles: []string{"a", "b"}, JSON: true}, false},
		{[]string{}, planOptions{}, true},
		{[]string{"a", "b"}, planOptions{}, true},
	}
	for _, tt := range tests {
		env, _ := testEnv(t)
		var got *planOptions
		cmd := newPlanCmd(env, func(o *planOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(env.IO.Out)
		cmd.SetErr(env.IO.ErrOut)
		err := cmd.Execute()
		if (err != nil) != tt.err {
			t.Fatalf("plan %q: err = %v, want error %v", tt.args, err, tt.err)
		}
		if tt.err {
			if !errors.As(err, new(FlagError)) {
				t.Errorf("plan %q: err = %T, want FlagError", tt.args, err)
			}
			continue
		}
		if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreUnexported(planOptions{}), cmpopts.IgnoreFields(planOptions{}, "env")); diff != "" {
			t.Errorf("plan %q options (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"ok", []string{"version"}, 0},
		{"usage", []string{"nope"}, 2},
		{"bad-flag", []string{"list", "--bogus"}, 2},
		{"manifest-error", []string{"plan", "missing"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			if got := Main(context.Background(), tt.args, env); got != tt.want {
				t.Errorf("Main(%q) = %d, want %d", tt.args, got, tt.want)
			}
		})
	}
}

func TestMainCanceled(t *testing.T) {
	env, _ := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := Main(ctx, []string{"version"}, env); got != int(ExitCancel) && got != int(ExitOK) {
		t.Errorf("Main with a canceled context = %d, want %d or 0", got, ExitCancel)
	}
}

func TestHome(t *testing.T) {
	env := &Env{
		LookupEnv:   func(string) (string, bool) { return "", false },
		UserHomeDir: func() (string, error) { return "/home/u", nil },
	}
	if got, err := env.Home(); err != nil || got != "/home/u/.bot-bottle" {
		t.Errorf("Home() = %q, %v; want /home/u/.bot-bottle", got, err)
	}
	env.UserHomeDir = func() (string, error) { return "", errors.New("none") }
	if _, err := env.Home(); err == nil {
		t.Error("Home() without any home succeeded; want an error naming BOT_BOTTLE_HOME")
	}
}
