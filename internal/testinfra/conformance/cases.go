package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// Case names, stable: Harness.Lacks names them.
const (
	CaseStopUnknown          = "StopUnknown"
	CaseStartStopTwice       = "StartStopTwice"
	CaseSecondStartRefused   = "SecondStartRefused"
	CaseSecondStartElsewhere = "SecondStartElsewhereRefused"
	CaseFailedStart          = "FailedStartLeavesNothing"
	CaseListPartial          = "ListRunningThenPartial"
	CaseAttachContext        = "AttachEndsWithContext"
	CaseAttachStatus         = "AttachReturnsStatus"
	CaseAttachOutput         = "AttachReplaysOutput"
	CaseAttachStdin          = "AttachFeedsStdin"
	CaseAttachNoStdin        = "AttachClosesStdin"
	CaseExec                 = "ExecStatusAndOutput"
	CaseScratch              = "ScratchWritable"
	CaseKeptHome             = "KeptHome"
	CaseCommit               = "CommitThenStart"
	CaseLogs                 = "LogsNameSidecar"
	CaseResume               = "ResumeAfterStop"
	CaseOwnerKilled          = "OwnerKilled"
	CaseListScope            = "ListScope"
	CaseDialUnknown          = "DialControlUnknown"
	CaseControlHealth        = "ControlHealth"
	CaseDetachedListsOwner   = "DetachedListsOwner"
	CaseDetachedElsewhere    = "DetachedStoppedElsewhere"
)

var cases = []struct {
	name string
	run  func(t *testing.T, s *suite)
}{
	{CaseStopUnknown, stopUnknown},
	{CaseStartStopTwice, startStopTwice},
	{CaseSecondStartRefused, secondStartRefused},
	{CaseSecondStartElsewhere, secondStartElsewhere},
	{CaseFailedStart, failedStart},
	{CaseListPartial, listPartial},
	{CaseAttachContext, attachContext},
	{CaseAttachStatus, attachStatus},
	{CaseAttachOutput, attachOutput},
	{CaseAttachStdin, attachStdin},
	{CaseAttachNoStdin, attachNoStdin},
	{CaseExec, execStatusAndOutput},
	{CaseScratch, scratchWritable},
	{CaseKeptHome, keptHome},
	{CaseCommit, commitThenStart},
	{CaseLogs, logsNameSidecar},
	{CaseResume, resume},
	{CaseOwnerKilled, ownerKilled},
	{CaseListScope, listScope},
	{CaseDialUnknown, dialUnknown},
	{CaseControlHealth, controlHealth},
	{CaseDetachedListsOwner, detachedListsOwner},
	{CaseDetachedElsewhere, detachedElsewhere},
}

func stopUnknown(t *testing.T, s *suite) {
	slug := s.slug()
	if err := s.b.Stop(t.Context(), slug); err != nil {
		t.Fatalf("Stop(%s) of an unknown slug = %v, want nil", slug, err)
	}
}

func startStopTwice(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	s.requireState(t, s.b, slug, backend.StateRunning)
	s.stop(t, s.b, slug)
	if err := s.b.Stop(t.Context(), slug); err != nil {
		t.Fatalf("second Stop(%s) = %v, want nil", slug, err)
	}
	s.requireGone(t, s.b, slug)
}

func secondStartRefused(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	second := s.spec(t, slug)
	if err := s.b.Start(t.Context(), second, nil); err == nil {
		t.Fatalf("a second Start(%s) succeeded, want it refused", slug)
	}
	s.requireState(t, s.b, slug, backend.StateRunning)
	if out, code := s.exec(t, slug, "echo", "still", "here"); code != 0 || out != "still here\n" {
		t.Fatalf("after the refused Start, Exec(echo) = %d %q, want 0 \"still here\\n\"", code, out)
	}
	s.stop(t, s.b, slug)
}

// secondStartElsewhere starts the slug again from another backend of the
// same state root, as another bot-bottle process would.
func secondStartElsewhere(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	other := s.h.New(t, s.root)
	if err := other.Start(t.Context(), s.spec(t, slug), nil); err == nil {
		t.Fatalf("a second Start(%s) by another backend of the state root succeeded, want it refused", slug)
	}
	in := s.requireState(t, s.b, slug, backend.StateRunning)
	if in.OwnerPID != os.Getpid() {
		t.Errorf("after the refused Start, List() has %+v, want OwnerPID %d", in, os.Getpid())
	}
	if out, code := s.exec(t, slug, "echo", "still", "here"); code != 0 || out != "still here\n" {
		t.Fatalf("after the refused Start, Exec(echo) = %d %q, want 0 \"still here\\n\"", code, out)
	}
	s.stop(t, s.b, slug)
}

func failedStart(t *testing.T, s *suite) {
	slug := s.slug()
	spec := s.spec(t, slug)
	if s.h.FailStart != nil {
		s.h.FailStart(t, spec)
	} else {
		BadUpstreamCA(t, spec)
	}
	t.Cleanup(func() { _ = s.b.Stop(context.WithoutCancel(t.Context()), slug) })
	if err := s.b.Start(t.Context(), spec, nil); err == nil {
		t.Fatalf("Start(%s) of a broken spec succeeded, want an error", slug)
	}
	s.requireGone(t, s.b, slug)
}

// BadUpstreamCA makes spec's sidecar fail at start: its upstream CA file
// holds no certificate.
func BadUpstreamCA(t *testing.T, spec *backend.Spec) {
	t.Helper()
	bad := filepath.Join(t.TempDir(), "not-a-ca.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec.UpstreamCA = bad
}

func listPartial(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	in := s.requireState(t, s.b, slug, backend.StateRunning)
	if in.Backend != s.b.Name() || in.Agent != "conformance" || len(in.Bottles) != 1 || in.Bottles[0] != "conformance" {
		t.Errorf("List() has %+v, want backend %s, agent and bottles conformance", in, s.b.Name())
	}
	s.h.BreakSidecar(t, s.b, slug)
	s.requireState(t, s.b, slug, backend.StatePartial)
	s.stop(t, s.b, slug)
}

func attachContext(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	var out backendtest.SyncBuffer
	code, err := s.b.Attach(ctx, slug, backend.Stdio{Stdout: &out, Stderr: &out})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Attach with a context that ends = %d, %v; want %v", code, err, context.DeadlineExceeded)
	}
	s.requireState(t, s.b, slug, backend.StateRunning)
	if _, code := s.exec(t, slug, "true"); code != 0 {
		t.Fatalf("Exec(true) after a detach = %d, want 0", code)
	}
	s.stop(t, s.b, slug)
}

func attachStatus(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug, cmdFalse...))
	code, err := s.attach(t, slug, nil)
	if err != nil || code != 1 {
		t.Fatalf("Attach to %v = %d, %v; want 1, nil", cmdFalse, code, err)
	}
	s.stop(t, s.b, slug)
}

func attachOutput(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug, "echo", "conformance", "main"))
	var out backendtest.SyncBuffer
	code, err := s.attach(t, slug, &out)
	if err != nil || code != 0 || !strings.Contains(out.String(), "conformance main\n") {
		t.Fatalf("Attach to echo = %d, %v, output %q; want 0, nil, \"conformance main\\n\"", code, err, out.String())
	}
	s.stop(t, s.b, slug)
}

// attachStdin: without a terminal, what the first attach reads reaches
// the main command, and its end closes the command's stdin (cat ends).
func attachStdin(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug, "cat"))
	var out backendtest.SyncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code, err := s.b.Attach(ctx, slug, backend.Stdio{Stdin: strings.NewReader("piped\nin\n"), Stdout: &out, Stderr: &out})
	if err != nil || code != 0 || out.String() != "piped\nin\n" {
		t.Fatalf("Attach to cat with stdin = %d, %v, output %q; want 0, nil, %q", code, err, out.String(), "piped\nin\n")
	}
	s.stop(t, s.b, slug)
}

// attachNoStdin: without a terminal or a Stdin, the main command's
// stdin is closed; a command that reads it ends instead of waiting
// forever (codex exec reads its prompt from a stdin that is not a
// terminal).
func attachNoStdin(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug, "cat"))
	var out backendtest.SyncBuffer
	code, err := s.attach(t, slug, &out)
	if err != nil || code != 0 || out.String() != "" {
		t.Fatalf("Attach to cat without stdin = %d, %v, output %q; want 0, nil, \"\"", code, err, out.String())
	}
	s.stop(t, s.b, slug)
}

func execStatusAndOutput(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	for _, c := range []struct {
		cmd      []string
		out      string
		wantCode int
	}{
		{[]string{"echo", "conformance", "exec"}, "conformance exec\n", 0},
		{[]string{"true"}, "", 0},
		{[]string{"false"}, "", 1},
		{[]string{"printenv", EnvName}, EnvValue + "\n", 0},
	} {
		if out, code := s.exec(t, slug, c.cmd...); code != c.wantCode || out != c.out {
			t.Errorf("Exec(%q) = %d %q, want %d %q", c.cmd, code, out, c.wantCode, c.out)
		}
	}
	s.stop(t, s.b, slug)
}

// scratchWritable: the agent's scratch space, /tmp and its home, is
// writable (a hidden host path must not take it away).
func scratchWritable(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	cmd := []string{"sh", "-c", `d=$(mktemp -d) && touch "$d/f" "$HOME/.conformance" && echo writable`}
	if out, code := s.exec(t, slug, cmd...); code != 0 || out != "writable\n" {
		t.Errorf("Exec(%q) = %d %q, want 0 %q", cmd, code, out, "writable\n")
	}
	s.stop(t, s.b, slug)
}

// keptHome: a home kept in HomeDir holds what the agent wrote from one
// start to the next, and the next start's files replace the links the
// agent left at their paths (to a host folder, which a backend that
// provisions from the host could follow) instead of writing through them.
func keptHome(t *testing.T, s *suite) {
	slug := s.slug()
	host := t.TempDir()
	spec := s.spec(t, slug)
	spec.HomeDir = filepath.Join(spec.StateDir, "home")
	if err := os.Mkdir(spec.HomeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.start(t, s.b, spec)
	plant := fmt.Sprintf(`echo kept > ~/note && ln -s %[1]s ~/pdir && ln -s %[1]s/victim ~/pfile && mkdir ~/.cfg && ln -s %[1]s/victim2 ~/.cfg/conf && echo planted`, host)
	if out, code := s.exec(t, slug, "sh", "-c", plant); code != 0 || out != "planted\n" {
		t.Fatalf("planting links in the home = %d %q", code, out)
	}
	s.stop(t, s.b, slug)

	again := s.spec(t, slug)
	again.HomeDir = spec.HomeDir
	home := again.User.Home
	again.Files = append(again.Files,
		backend.File{Path: home + "/pdir/inner.txt", Mode: 0o644, Data: []byte("inner\n")},
		backend.File{Path: home + "/pfile", Mode: 0o644, Data: []byte("fresh\n")},
		backend.File{Path: home + "/.cfg/conf", Mode: 0o600, Data: []byte("conf\n")})
	s.start(t, s.b, again)
	const read = `cat ~/note ~/pfile ~/pdir/inner.txt ~/.cfg/conf; for f in ~/pdir ~/pfile ~/.cfg/conf; do test -L "$f" && echo "$f is a link"; done; true`
	if out, code := s.exec(t, slug, "sh", "-c", read); code != 0 || out != "kept\nfresh\ninner\nconf\n" {
		t.Errorf("the kept home reads %d %q, want the note and the provisioned files, no links", code, out)
	}
	s.stop(t, s.b, slug)
	if left, err := os.ReadDir(host); err != nil || len(left) > 0 {
		t.Errorf("provisioning wrote through the agent's links into the host folder: %v %v", left, err)
	}
}

// commitThenStart: a backend.Committer saves what the agent wrote in its
// home and /tmp; a start from the saved runtime finds it, with the files
// provisioned for that start in place of the saved ones; Forget removes
// it. A backend without Commit skips the case.
func commitThenStart(t *testing.T, s *suite) {
	c, ok := s.b.(backend.Committer)
	if !ok {
		t.Skip("the backend cannot commit a bottle")
	}
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	if out, code := s.exec(t, slug, "sh", "-c", "echo kept > ~/note && echo old > ~/prov.txt && echo scratch > /tmp/scratch && echo written"); code != 0 || out != "written\n" {
		t.Fatalf("writing the home = %d %q", code, out)
	}
	ref, err := c.Commit(t.Context(), slug)
	if err != nil {
		t.Fatalf("Commit(%s) = %v", slug, err)
	}
	t.Cleanup(func() { _ = c.Forget(context.WithoutCancel(t.Context()), ref) })
	s.stop(t, s.b, slug)

	again := s.spec(t, slug)
	again.Image.Committed = ref
	again.Files = append(again.Files, backend.File{Path: again.User.Home + "/prov.txt", Mode: 0o644, Data: []byte("new\n")})
	s.start(t, s.b, again)
	if out, code := s.exec(t, slug, "sh", "-c", "cat ~/note ~/prov.txt /tmp/scratch"); code != 0 || out != "kept\nnew\nscratch\n" {
		t.Errorf("the bottle started from the commit reads %d %q, want what was written, the new provisioned file", code, out)
	}
	s.stop(t, s.b, slug)
	if err := c.Forget(t.Context(), ref); err != nil {
		t.Errorf("Forget(%s) = %v", ref, err)
	}
	bad := s.spec(t, slug)
	bad.Image.Committed = ref
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := s.b.Start(ctx, bad, io.Discard); err == nil {
		_ = s.b.Stop(context.WithoutCancel(t.Context()), slug)
		t.Error("a start from a forgotten commit succeeded")
	}
}

func logsNameSidecar(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	var out strings.Builder
	if err := s.b.Logs(t.Context(), slug, &out); err != nil {
		t.Fatalf("Logs(%s) = %v", slug, err)
	}
	if !strings.Contains(out.String(), "sidecar") {
		t.Fatalf("Logs(%s) wrote %q, want the sidecar named", slug, out.String())
	}
	s.stop(t, s.b, slug)
}

func resume(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	s.stop(t, s.b, slug)
	s.start(t, s.b, s.spec(t, slug))
	s.requireState(t, s.b, slug, backend.StateRunning)
	if _, code := s.exec(t, slug, "true"); code != 0 {
		t.Fatalf("Exec(true) in the resumed bottle = %d, want 0", code)
	}
	s.stop(t, s.b, slug)
}

func ownerKilled(t *testing.T, s *suite) {
	slug := s.slug()
	spec := s.spec(t, slug)
	dead := deadPID(t)
	spec.OwnerPID = dead
	s.start(t, s.b, spec)
	in, ok := s.find(t, s.b, slug)
	if !ok || in.OwnerPID != dead {
		t.Fatalf("List() has %s as %+v (found %v), want OwnerPID %d", slug, in, ok, dead)
	}
	s.stop(t, s.b, slug)
}

func listScope(t *testing.T, s *suite) {
	slug := s.slug()
	s.start(t, s.b, s.spec(t, slug))
	other := s.h.New(t, shortDir(t, "state"))
	if in, ok := s.find(t, other, slug); ok {
		t.Fatalf("a backend of another state root lists %+v", in)
	}
	if err := other.Stop(t.Context(), slug); err != nil {
		t.Fatalf("Stop(%s) by a backend of another state root = %v, want nil", slug, err)
	}
	s.requireState(t, s.b, slug, backend.StateRunning)
	s.stop(t, s.b, slug)
}

func dialUnknown(t *testing.T, s *suite) {
	slug := s.slug()
	c, err := s.b.DialControl(t.Context(), slug)
	if err == nil {
		_ = c.Close()
	}
	if !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("DialControl(%s) of an unknown slug = %v, want %v", slug, err, backend.ErrNotFound)
	}
}

func controlHealth(t *testing.T, s *suite) {
	slug := s.slug()
	spec := s.spec(t, slug)
	s.start(t, s.b, spec)
	cl := control.NewClient(func(ctx context.Context) (net.Conn, error) { return s.b.DialControl(ctx, slug) }, spec.ControlToken)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h, err := cl.Health(ctx)
	if err != nil {
		t.Fatalf("Health() through DialControl = %v", err)
	}
	if h.Generation != 0 {
		t.Errorf("Health() = %+v, want generation 0", h)
	}
	pol, err := cl.Policy(ctx)
	if err != nil || pol == nil {
		t.Fatalf("Policy() = %v, %v", pol, err)
	}
	s.stop(t, s.b, slug)
}

func detachedListsOwner(t *testing.T, s *suite) {
	slug := s.slug()
	spec := s.spec(t, slug)
	spec.Detached = true
	s.start(t, s.b, spec)
	in := s.requireState(t, s.b, slug, backend.StateRunning)
	if !in.Detached || in.OwnerPID != os.Getpid() {
		t.Fatalf("List() has %+v, want Detached and OwnerPID %d (the starter)", in, os.Getpid())
	}
	s.stop(t, s.b, slug)
}

// detachedElsewhere lists and stops a detached bottle from another
// backend of the same state root, as a later bot-bottle process would.
func detachedElsewhere(t *testing.T, s *suite) {
	slug := s.slug()
	spec := s.spec(t, slug)
	spec.Detached = true
	s.start(t, s.b, spec)
	other := s.h.New(t, s.root)
	in := s.requireState(t, other, slug, backend.StateRunning)
	if !in.Detached || in.OwnerPID != os.Getpid() {
		t.Fatalf("another backend's List() has %+v, want Detached and OwnerPID %d (the starter)", in, os.Getpid())
	}
	s.stop(t, other, slug)
	s.requireGone(t, s.b, slug)
}

// exec runs cmd in slug and returns its output (both streams) and status.
func (s *suite) exec(t *testing.T, slug string, cmd ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out backendtest.SyncBuffer
	code, err := s.b.Exec(ctx, slug, backend.Exec{Cmd: cmd, Stdio: backend.Stdio{Stdout: &out, Stderr: &out}})
	if err != nil {
		t.Fatalf("Exec(%s, %q) = %v", slug, cmd, err)
	}
	return out.String(), code
}

// attach attaches to slug's main command until it ends.
func (s *suite) attach(t *testing.T, slug string, out *backendtest.SyncBuffer) (int, error) {
	t.Helper()
	if out == nil {
		out = &backendtest.SyncBuffer{}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	return s.b.Attach(ctx, slug, backend.Stdio{Stdout: out, Stderr: out})
}
