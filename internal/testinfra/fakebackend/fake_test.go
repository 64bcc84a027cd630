package fakebackend_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/conformance"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakebackend"
)

func start(t *testing.T, b *fakebackend.Backend, slug string, cmd ...string) *backend.Spec {
	t.Helper()
	spec := conformance.BaseSpec(t, slug)
	spec.Command = cmd
	if err := b.Start(t.Context(), spec, nil); err != nil {
		t.Fatalf("Start(%s, %q) = %v", slug, cmd, err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background(), slug) })
	return spec
}

func TestExecInterpreter(t *testing.T) {
	b := fakebackend.New("fake")
	start(t, b, "interp", "sleep")
	for _, c := range []struct {
		name   string
		cmd    []string
		env    []string
		stdin  string
		code   int
		stdout string
		stderr string
	}{
		{"echo", []string{"echo", "a", "b c"}, nil, "", 0, "a b c\n", ""},
		{"echoEmpty", []string{"echo"}, nil, "", 0, "\n", ""},
		{"exit", []string{"exit", "7"}, nil, "", 7, "", ""},
		{"exitBad", []string{"exit", "x"}, nil, "", 2, "", "fake: exit: x: numeric argument required\n"},
		{"true", []string{"true"}, nil, "", 0, "", ""},
		{"false", []string{"false"}, nil, "", 1, "", ""},
		{"cat", []string{"cat"}, nil, "in\nput", 0, "in\nput", ""},
		{"printenvSpec", []string{"printenv", conformance.EnvName}, nil, "", 0, conformance.EnvValue + "\n", ""},
		{"printenvExec", []string{"printenv", "X"}, []string{"X=1", "X=2"}, "", 0, "2\n", ""},
		{"printenvUnset", []string{"printenv", "NOPE"}, nil, "", 1, "", ""},
		{"sleepSeconds", []string{"sleep", "0.01"}, nil, "", 0, "", ""},
		{"unknown", []string{"curl", "-s"}, nil, "", 127, "", "fake: curl: command not found\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			e := backend.Exec{Cmd: c.cmd, Env: c.env, Stdio: backend.Stdio{Stdout: &stdout, Stderr: &stderr}}
			if c.stdin != "" {
				e.Stdin = strings.NewReader(c.stdin)
			}
			code, err := b.Exec(t.Context(), "interp", e)
			if err != nil {
				t.Fatalf("Exec(%q) = %v", c.cmd, err)
			}
			if diff := cmp.Diff([]any{c.code, c.stdout, c.stderr}, []any{code, stdout.String(), stderr.String()}); diff != "" {
				t.Errorf("Exec(%q): (status, stdout, stderr) mismatch (-want +got):\n%s", c.cmd, diff)
			}
		})
	}
}

func TestExecSleepEndsWithContext(t *testing.T) {
	b := fakebackend.New("fake")
	start(t, b, "sleepy", "sleep")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Exec(ctx, "sleepy", backend.Exec{Cmd: []string{"sleep", "1000"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Exec(sleep) with a context that ends = %v, want %v", err, context.DeadlineExceeded)
	}
}

func TestStartOfAnUnknownCommandFails(t *testing.T) {
	b := fakebackend.New("fake")
	spec := conformance.BaseSpec(t, "nope")
	spec.Command = []string{"claude"}
	err := b.Start(t.Context(), spec, nil)
	if err == nil || !strings.Contains(err.Error(), "fake: claude: command not found") {
		t.Fatalf("Start(claude) = %v, want command not found", err)
	}
	if list, _ := b.List(t.Context()); len(list) != 0 {
		t.Fatalf("List() after a failed Start = %+v, want nothing", list)
	}
	if got := b.Spec("nope"); got == nil || got.Command[0] != "claude" {
		t.Fatalf("Spec(nope) = %+v, want the failed start's spec", got)
	}
}

func TestAttachFollowsStdinThroughCat(t *testing.T) {
	b := fakebackend.New("fake")
	start(t, b, "cat", "cat")
	pr, pw := io.Pipe()
	var out backendtest.SyncBuffer
	got := make(chan int, 1)
	go func() {
		code, err := b.Attach(t.Context(), "cat", backend.Stdio{Stdin: pr, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Errorf("Attach = %v", err)
		}
		got <- code
	}()
	_, _ = io.WriteString(pw, "live line\n")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "live line\n") {
		if time.Now().After(deadline) {
			t.Fatalf("Attach streamed %q, want the line written to stdin", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = pw.Close()
	if code := <-got; code != 0 {
		t.Fatalf("Attach to cat = %d, want 0 once stdin ends", code)
	}
	// A second attach replays everything.
	var again strings.Builder
	if code, err := b.Attach(t.Context(), "cat", backend.Stdio{Stdout: &again}); err != nil || code != 0 || again.String() != "live line\n" {
		t.Fatalf("second Attach = %d, %v, %q; want a replay", code, err, again.String())
	}
}

func TestHooks(t *testing.T) {
	b := fakebackend.New("fake")
	boom := errors.New("boom")
	b.FailNextStart(boom)
	spec := conformance.BaseSpec(t, "hooked")
	if err := b.Start(t.Context(), spec, nil); !errors.Is(err, boom) {
		t.Fatalf("Start after FailNextStart = %v, want %v", err, boom)
	}
	start(t, b, "hooked", "sleep")
	b.SetOwner("hooked", 4242)
	list, err := b.List(t.Context())
	if err != nil || len(list) != 1 || list[0].OwnerPID != 4242 || list[0].State != backend.StateRunning {
		t.Fatalf("List() = %+v, %v; want hooked running, owner 4242", list, err)
	}
	if n := len(b.Specs()); n != 2 {
		t.Fatalf("Specs() has %d specs, want 2 (the failed start's too)", n)
	}
	b.BreakSidecar("hooked")
	if _, err := b.DialControl(t.Context(), "hooked"); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("DialControl after BreakSidecar = %v, want %v", err, backend.ErrNotFound)
	}
}

func TestControl(t *testing.T) {
	b := fakebackend.New("fake")
	spec := start(t, b, "ctl", "sleep")
	dial := func(ctx context.Context) (net.Conn, error) { return b.DialControl(ctx, "ctl") }
	cl := control.NewClient(dial, spec.ControlToken)
	defer cl.Close()
	ctx := t.Context()
	pol, err := cl.Policy(ctx)
	if err != nil || pol.Bottle != "conformance" || len(pol.Routes) != 1 {
		t.Fatalf("Policy() = %+v, %v; want the spec's", pol, err)
	}
	pol.Routes, pol.Tokens = nil, nil
	applied, err := cl.Replace(ctx, pol, nil)
	if err != nil || applied.Generation != 1 {
		t.Fatalf("Replace() = %+v, %v; want generation 1", applied, err)
	}
	if cur := b.CurrentPolicy("ctl"); cur == nil || len(cur.Routes) != 0 {
		t.Fatalf("CurrentPolicy() = %+v, want the replacement", cur)
	}
	if h, err := cl.Health(ctx); err != nil || h.Generation != 1 {
		t.Fatalf("Health() = %+v, %v; want generation 1", h, err)
	}
	wrong := control.NewClient(dial, secret.New("not-the-token"))
	defer wrong.Close()
	if _, err := wrong.Health(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Health() with a wrong token = %v, want 401", err)
	}
	// A follow blocks until the bottle stops.
	followed := make(chan error, 1)
	go func() { followed <- cl.Events(context.Background(), 0, true, func(control.Event) error { return nil }) }()
	select {
	case err := <-followed:
		t.Fatalf("Events(follow) returned %v before Stop", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := b.Stop(ctx, "ctl"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-followed:
	case <-time.After(5 * time.Second):
		t.Fatal("Events(follow) still runs after Stop")
	}
}
