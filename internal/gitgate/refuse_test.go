package gitgate

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPushRefusedByChecker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	base := e.seed()
	dir := e.clone("work")
	e.takeEvents()
	e.checker.set(func(p *Push) ([]Rejection, error) {
		return []Rejection{{
			Ref:    "refs/heads/main",
			Rule:   "secret-detected",
			Reason: "secret detected by gate",
			Detail: []string{"gate: PUSH REJECTED: 1 potential secret found:", "gate:   " + p.NewCommits[0].String()[:10] + " config.py:1 rule=aws-access-token"},
		}}, nil
	})
	leak := e.commit(dir, "config.py", "KEY = 'AKIAZ3MHN6VQ4RTWPX2L'\n", "add config")
	out := e.fail(dir, "push", "origin", "main")
	for _, want := range []string{
		"remote: gate: PUSH REJECTED: 1 potential secret found:",
		"remote: gate:   " + leak[:10] + " config.py:1 rule=aws-access-token",
		" ! [remote rejected] main -> main (secret detected by gate)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("git push printed:\n%s\nwant a line %q", out, want)
		}
	}
	e.wantRef(t, "refs/heads/main", base)
	if e.exists(e.mirror, leak) || e.exists(e.up.dir, leak) {
		t.Errorf("rejected commit %s reached the mirror or the upstream", leak)
	}
	if got := e.up.takePushes(); len(got) != 0 {
		t.Errorf("Upstream.Push called %+v, want no call", got)
	}
	want := []Event{{
		Repo: "proj", Op: OpPush, Ref: "refs/heads/main", Decision: DecisionRefuse, Rule: "secret-detected",
		Detail: "secret detected by gate: gate: PUSH REJECTED: 1 potential secret found:; gate:   " + leak[:10] + " config.py:1 rule=aws-access-token",
	}}
	if diff := cmp.Diff(want, e.takeEvents()); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

// TestPushRefusals covers the refusals that leave the upstream and the
// mirror as they were.
func TestPushRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		decide  func(*Push) ([]Rejection, error)
		args    []string
		wantOut []string
		// wantRules maps each pushed ref to its audited rule.
		wantRules map[string]string
	}{
		{
			name: "atomic-one-rejected",
			decide: func(*Push) ([]Rejection, error) {
				return []Rejection{{Ref: "refs/heads/bad", Rule: "branch-not-allowed", Reason: "branch not allowed"}}, nil
			},
			args:      []string{"push", "--atomic", "origin", "good", "bad"},
			wantOut:   []string{" ! [remote rejected] bad -> bad (branch not allowed)", " ! [remote rejected] good -> good (atomic push failure)"},
			wantRules: map[string]string{"refs/heads/good": "atomic", "refs/heads/bad": "branch-not-allowed"},
		},
		{
			name: "whole-push",
			decide: func(*Push) ([]Rejection, error) {
				return []Rejection{{Rule: "protected-path", Reason: "protected path", Detail: []string{"gate: .github/ may not change"}}}, nil
			},
			args:      []string{"push", "origin", "good", "bad"},
			wantOut:   []string{"remote: gate: .github/ may not change", "[remote rejected] good -> good (protected path)", "[remote rejected] bad -> bad (protected path)"},
			wantRules: map[string]string{"refs/heads/good": "protected-path", "refs/heads/bad": "protected-path"},
		},
		{
			name: "check-error",
			decide: func(*Push) ([]Rejection, error) {
				return nil, os.ErrDeadlineExceeded
			},
			args:      []string{"push", "origin", "good"},
			wantOut:   []string{"remote: gate: push refused: the check failed: i/o timeout", "[remote rejected] good -> good (gate check failed)"},
			wantRules: map[string]string{"refs/heads/good": "check-failed"},
		},
		{
			name: "unknown-ref-rejected",
			decide: func(*Push) ([]Rejection, error) {
				return []Rejection{{Ref: "refs/heads/elsewhere", Rule: "confused", Reason: "confused checker"}}, nil
			},
			args:      []string{"push", "origin", "good"},
			wantOut:   []string{"[remote rejected] good -> good (confused checker)"},
			wantRules: map[string]string{"refs/heads/good": "confused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.seed()
			dir := e.clone("work")
			e.takeEvents()
			e.run(dir, "checkout", "--quiet", "-b", "good")
			good := e.commit(dir, "good.txt", "good\n", "good")
			e.run(dir, "checkout", "--quiet", "-b", "bad")
			bad := e.commit(dir, "bad.txt", "bad\n", "bad")
			e.checker.set(tt.decide)

			out := e.fail(dir, tt.args...)
			for _, want := range tt.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("git push printed:\n%s\nwant %q", out, want)
				}
			}
			e.wantRef(t, "refs/heads/good", "")
			e.wantRef(t, "refs/heads/bad", "")
			for _, c := range []string{good, bad} {
				if e.exists(e.mirror, c) {
					t.Errorf("refused commit %s is in the mirror", c)
				}
			}
			gotRules := map[string]string{}
			for _, ev := range e.takeEvents() {
				if ev.Decision != DecisionRefuse {
					t.Errorf("audit event %+v, want a refusal", ev)
				}
				gotRules[ev.Ref] = ev.Rule
			}
			if diff := cmp.Diff(tt.wantRules, gotRules); diff != "" {
				t.Errorf("audited rules (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPushPartlyRefused checks that, without --atomic, a refused ref does
// not stop the others, and that its objects stay out of the mirror.
func TestPushPartlyRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	e.run(dir, "checkout", "--quiet", "-b", "good")
	good := e.commit(dir, "good.txt", "good\n", "good")
	e.run(dir, "checkout", "--quiet", "main")
	e.run(dir, "checkout", "--quiet", "-b", "bad")
	bad := e.commit(dir, "bad.txt", "bad\n", "bad")
	e.checker.set(func(*Push) ([]Rejection, error) {
		return []Rejection{{Ref: "refs/heads/bad", Rule: "branch-not-allowed", Reason: "branch not allowed"}}, nil
	})
	out := e.fail(dir, "push", "origin", "good", "bad")
	if !strings.Contains(out, " * [new branch]      good -> good") || !strings.Contains(out, "[remote rejected] bad -> bad (branch not allowed)") {
		t.Errorf("git push printed:\n%s\nwant good pushed and bad refused", out)
	}
	e.wantRef(t, "refs/heads/good", good)
	e.wantRef(t, "refs/heads/bad", "")
	if !e.exists(e.mirror, good) || e.exists(e.mirror, bad) {
		t.Errorf("mirror holds good %v and bad %v, want only good", e.exists(e.mirror, good), e.exists(e.mirror, bad))
	}
}

func TestPushRefusedUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	e.takeEvents()
	e.run(dir, "checkout", "--quiet", "-b", "blocked")
	e.commit(dir, "b.txt", "b\n", "b")
	out := e.fail(dir, "push", "origin", "blocked")
	for _, want := range []string{
		"remote: upstream: remote: upstream policy: refs/heads/blocked is read-only",
		" ! [remote rejected] blocked -> blocked (upstream: [remote rejected] (pre-receive hook declined))",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("git push printed:\n%s\nwant %q", out, want)
		}
	}
	e.wantRef(t, "refs/heads/blocked", "")
	want := []Event{{Repo: "proj", Op: OpPush, Ref: "refs/heads/blocked", Decision: DecisionRefuse, Rule: "upstream-rejected", Detail: "upstream: [remote rejected] (pre-receive hook declined)"}}
	if diff := cmp.Diff(want, e.takeEvents()); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

// TestPushStaleOld moves the upstream's and the mirror's branch between
// the advertisement and the push, as a concurrent refresh would: the gate
// must refuse the command rather than overwrite the new value.
func TestPushUpstreamError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	base := e.seed()
	dir := e.clone("work")
	e.takeEvents()
	e.up.setPushErr(errors.New("ssh: handshake failed: host key mismatch"))
	e.commit(dir, "a.txt", "a\n", "a")
	// With --progress, git does not ask the gate to be quiet.
	out := e.fail(dir, "push", "--progress", "origin", "main")
	for _, want := range []string{
		// Only the last drawing of the progress meter.
		"remote: upstream: meter 2/2, done.",
		"remote: upstream: error: ssh: handshake failed: host key mismatch",
		" ! [remote rejected] main -> main (upstream push failed)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("git push printed:\n%s\nwant %q", out, want)
		}
	}
	if strings.Contains(out, "meter 1/2") {
		t.Errorf("git push printed:\n%s\nwant the meter's last drawing only", out)
	}
	// Without it, git asks for quiet: meters go, messages stay.
	out = e.fail(dir, "push", "origin", "main")
	if strings.Contains(out, "meter") || !strings.Contains(out, "remote: upstream: error: ssh: handshake failed") {
		t.Errorf("quiet git push printed:\n%s\nwant the error and no meter", out)
	}
	if got := e.rev(e.mirror, "refs/heads/main"); got != base {
		t.Errorf("mirror main = %s, want it unmoved at %s", got, base)
	}
	refused := Event{Repo: "proj", Op: OpPush, Ref: "refs/heads/main", Decision: DecisionRefuse, Rule: "upstream-failed", Detail: "upstream push failed"}
	if diff := cmp.Diff([]Event{refused, refused}, e.takeEvents()); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

func TestPushStaleOld(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	other := e.clone("other")
	moved := e.commit(other, "elsewhere.txt", "x\n", "elsewhere")
	e.commit(dir, "mine.txt", "mine\n", "mine")

	errs := make(chan error, 2)
	e.requests.setBeforePost(func(r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			return
		}
		ctx := r.Context()
		if out, err := runGit(ctx, e.gitEnv, other, nil, "push", "--quiet", e.up.dir, "main"); err != nil {
			errs <- fmt.Errorf("push from other: %w: %s", err, out)
		}
		if out, err := runGit(ctx, e.gitEnv, e.mirror, nil, "fetch", "--quiet", e.up.dir, "+refs/heads/*:refs/heads/*"); err != nil {
			errs <- fmt.Errorf("refreshing mirror: %w: %s", err, out)
		}
	})
	out := e.fail(dir, "push", "origin", "main")
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, want := range []string{
		"remote: gate: refs/heads/main: the upstream ref moved since your fetch; fetch, integrate and push again",
		// Git knows this reason and adds its own hint.
		" ! [rejected]        main -> main (fetch first)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("git push printed:\n%s\nwant %q", out, want)
		}
	}
	e.wantRef(t, "refs/heads/main", moved)
	if got := e.up.takePushes(); len(got) != 0 {
		t.Errorf("Upstream.Push called %+v, want no call", got)
	}
}
