package tui

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// fakeOp is an Operator over a fixed list that records verdicts.
type fakeOp struct {
	mu       sync.Mutex
	props    []supervise.Proposal
	verdicts map[string]supervise.Verdict
}

func (f *fakeOp) List(context.Context) ([]supervise.Proposal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]supervise.Proposal(nil), f.props...), nil
}

func (f *fakeOp) Decide(_ context.Context, id string, v supervise.Verdict) (supervise.Proposal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.props {
		if p.ID == id {
			if f.verdicts == nil {
				f.verdicts = map[string]supervise.Verdict{}
			}
			f.verdicts[id] = v
			f.props[i].Status = supervise.StatusRejected
			if v.Approve {
				f.props[i].Status = supervise.StatusApproved
			}
			return f.props[i], nil
		}
	}
	return supervise.Proposal{}, supervise.ErrNotFound
}

func (f *fakeOp) verdict(id string) (supervise.Verdict, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.verdicts[id]
	return v, ok
}

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func proposals() []supervise.Proposal {
	return []supervise.Proposal{
		{ID: "p-00000002", Bottle: "dev-2", Kind: supervise.KindRoute, Status: supervise.StatusPending, Created: t0.Add(-time.Minute), Deadline: t0.Add(29 * time.Minute),
			Summary: "route: GET docs.example.test (prefix /v1/)", Reason: "read the docs \x1b[2J\x1b]0;pwned\x07",
			Route: &supervise.RouteRequest{Host: "docs.example.test", Paths: []supervise.PathSpec{{Type: "prefix", Value: "/v1/"}}, Methods: []string{"GET"}},
			Risks: []supervise.Risk{{Code: supervise.RiskCredentialReach, Text: "docs.example.test carries a credential"}},
			Diff:  []supervise.DiffLine{{Op: "+", Text: "docs.example.test: GET prefix /v1/"}}},
		{ID: "p-00000001", Bottle: "dev-1", Kind: supervise.KindRoute, Status: supervise.StatusPending, Created: t0.Add(-5 * time.Minute), Deadline: t0.Add(25 * time.Minute),
			Summary: "route: POST up.example.test (any path)", Route: &supervise.RouteRequest{Host: "up.example.test", Methods: []string{"POST"}}},
	}
}

func start(t *testing.T, op *fakeOp, opts Options) *teatest.TestModel {
	t.Helper()
	opts.Now = func() time.Time { return t0 }
	opts.Refresh = 50 * time.Millisecond
	opts.By = "op@test"
	return teatest.NewTestModel(t, New(op, opts), teatest.WithInitialTermSize(100, 30))
}

func waitFor(t *testing.T, tm *teatest.TestModel, want string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(want)) }, teatest.WithDuration(5*time.Second))
}

func key(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	}
	return tea.KeyPressMsg{Code: rune(s[0]), Text: s}
}

// TestListOldestFirstAndEscaped: the older pending proposal is first; the
// detail view shows the risks and the diff, and the agent's hostile reason
// only escaped.
func TestListOldestFirstAndEscaped(t *testing.T) {
	op := &fakeOp{props: proposals()}
	tm := start(t, op, Options{})
	waitFor(t, tm, "p-00000002")
	tm.Send(key("down"))
	tm.Send(key("enter"))
	waitFor(t, tm, "the agent's reason")
	tm.Send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	s := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model).View().Content
	for _, want := range []string{"p-00000002", `read the docs \x1b[2J\x1b]0;pwned\x07`, "! credential-reach", "+ docs.example.test: GET prefix /v1/"} {
		if !strings.Contains(s, want) {
			t.Errorf("the detail lacks %q:\n%s", want, s)
		}
	}
	list := New(op, Options{Now: func() time.Time { return t0 }})
	list.Update(listedMsg{props: op.props})
	ls := list.View().Content
	if i, j := strings.Index(ls, "p-00000001"), strings.Index(ls, "p-00000002"); i < 0 || j < 0 || i > j {
		t.Errorf("the older proposal is not listed first:\n%s", ls)
	}
	if strings.Contains(s, "\x1b]0;pwned") {
		t.Error("the agent's escape sequence reached the screen raw")
	}
}

func TestApproveWithLifetime(t *testing.T) {
	op := &fakeOp{props: proposals()}
	tm := start(t, op, Options{})
	waitFor(t, tm, "p-00000001")
	tm.Send(key("a"))
	tm.Type("30m")
	tm.Send(key("enter"))
	waitFor(t, tm, "p-00000001 approved")
	tm.Send(key("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	v, ok := op.verdict("p-00000001")
	if !ok {
		t.Fatal("no verdict sent")
	}
	if d := cmp.Diff(supervise.Verdict{Approve: true, By: "op@test", Lifetime: supervise.Lifetime{TTL: 30 * time.Minute}}, v); d != "" {
		t.Errorf("verdict (-want +got):\n%s", d)
	}
}

func TestRejectNeedsReason(t *testing.T) {
	op := &fakeOp{props: proposals()}
	tm := start(t, op, Options{})
	waitFor(t, tm, "p-00000001")
	tm.Send(key("r"))
	tm.Send(key("enter"))
	waitFor(t, tm, "a rejection needs a reason")
	tm.Type("use the mirror")
	tm.Send(key("enter"))
	waitFor(t, tm, "p-00000001 rejected")
	tm.Send(key("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if v, _ := op.verdict("p-00000001"); v.Approve || v.Reason != "use the mirror" {
		t.Errorf("verdict = %+v", v)
	}
}

// TestModifyInEditor edits the route with a script as $EDITOR: an
// invalid edit is refused and can be made again; a valid one is sent.
func TestModifyInEditor(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "ed.sh")
	flag := filepath.Join(dir, "second")
	// The first edit writes a bad path type, the second a good route.
	body := `#!/bin/sh
if [ -e ` + flag + ` ]; then
  printf 'host: up.example.test\npaths:\n  - {type: prefix, value: /upload/}\nmethods: [POST]\n' > "$1"
else
  touch ` + flag + `
  printf 'host: up.example.test\npaths:\n  - {type: glob, value: /x}\n' > "$1"
fi
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	op := &fakeOp{props: proposals()}
	tm := start(t, op, Options{Editor: script})
	waitFor(t, tm, "p-00000001")
	tm.Send(key("e"))
	waitFor(t, tm, "use prefix, exact or regex")
	tm.Send(key("e"))
	waitFor(t, tm, "modified: POST up.example.test (prefix /upload/)")
	tm.Send(key("enter"))
	waitFor(t, tm, "p-00000001 approved")
	tm.Send(key("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	v, _ := op.verdict("p-00000001")
	want := &supervise.RouteRequest{Host: "up.example.test", Paths: []supervise.PathSpec{{Type: "prefix", Value: "/upload/"}}, Methods: []string{"POST"}}
	if d := cmp.Diff(want, v.Route); d != "" || !v.Approve {
		t.Errorf("modified route (-want +got):\n%s", d)
	}
}

func TestParseLifetime(t *testing.T) {
	for in, want := range map[string]supervise.Lifetime{
		"": {}, "life": {}, "once": {Once: true}, "5u": {Uses: 5}, "30m": {TTL: 30 * time.Minute}, " 2H ": {TTL: 2 * time.Hour},
	} {
		got, err := ParseLifetime(in)
		if err != nil || got != want {
			t.Errorf("ParseLifetime(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0u", "-5m", "soon", "xu"} {
		if _, err := ParseLifetime(bad); err == nil {
			t.Errorf("ParseLifetime(%q) accepted", bad)
		}
	}
}

func TestParseRouteYAML(t *testing.T) {
	r := supervise.RouteRequest{Host: "a.example.test", Paths: []supervise.PathSpec{{Type: "exact", Value: "/x"}}, Methods: []string{"GET"}}
	got, err := ParseRouteYAML(RouteYAML(r))
	if err != nil || !cmp.Equal(got, r) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	for _, bad := range []string{"host: a.example.test\nauth: {scheme: Bearer}\n", "host: 10.0.0.1\n", "host: a.example.test\nmethods: [TRACE]\n", "", "host: a.example.test\n---\nhost: b.example.test\n"} {
		if _, err := ParseRouteYAML([]byte(bad)); err == nil {
			t.Errorf("ParseRouteYAML(%q) accepted", bad)
		}
	}
}

func FuzzParseRouteYAML(f *testing.F) {
	f.Add([]byte("host: a.example.test\npaths:\n  - {type: prefix, value: /x}\nmethods: [GET]\n"))
	f.Add([]byte("host: 10.0.0.1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRouteYAML(data)
		if err != nil {
			return
		}
		again, err := ParseRouteYAML(RouteYAML(r))
		if err != nil || !cmp.Equal(r, again) {
			t.Fatalf("a valid route does not round-trip: %+v -> %+v, %v", r, again, err)
		}
	})
}
