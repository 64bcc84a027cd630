package gitgate

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// fakeHolder decides every hold with decision and records what it saw.
type fakeHolder struct {
	mu       sync.Mutex
	decision supervise.Decision
	seen     []supervise.Proposal
}

func (h *fakeHolder) Hold(_ context.Context, p supervise.Proposal) (supervise.Decision, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, p)
	return h.decision, nil
}

func (h *fakeHolder) take() []supervise.Proposal {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen
	h.seen = nil
	return s
}

// allowMarked rejects every command as the push checker does a push
// whose only findings are marked gitleaks:allow.
func allowMarked(p *Push) ([]Rejection, error) {
	var out []Rejection
	for _, c := range p.Commands {
		out = append(out, Rejection{Ref: c.Name, Rule: "suppression-needs-approval", Reason: "gitleaks:allow needs operator approval",
			Allowed: []AllowMarked{{Commit: c.New.String()[:10], File: "app.py", Line: 4, Rule: "aws-access-token", Reason: "test fixture"}}})
	}
	return out, nil
}

// TestGitleaksAllowWaitsForTheOperator: a push refused only for findings
// marked gitleaks:allow is put to the operator; approved it lands
// upstream, rejected the upstream is unchanged and git says why; a push
// with any other rejection is refused without asking.
func TestGitleaksAllowWaitsForTheOperator(t *testing.T) {
	t.Parallel()
	h := &fakeHolder{}
	e := newEnv(t, envOptions{holder: h})
	e.seed()
	dir := e.clone("work")
	e.checker.set(allowMarked)

	e.run(dir, "checkout", "--quiet", "-b", "approved")
	c1 := e.commit(dir, "app.py", "KEY = 1 # gitleaks:allow test fixture\n", "marked")
	h.decision = supervise.Decision{Status: supervise.StatusApproved}
	out := e.run(dir, "push", "origin", "approved")
	if !strings.Contains(out, "waits for the operator") || !strings.Contains(out, "approved this push") {
		t.Errorf("git output does not say the push waited and was approved:\n%s", out)
	}
	e.wantRef(t, "refs/heads/approved", c1)
	if len(e.up.takePushes()) != 1 {
		t.Error("the approved push was not forwarded upstream")
	}
	seen := h.take()
	if len(seen) != 1 || seen[0].Kind != supervise.KindGitleaksAllow || seen[0].Push == nil || seen[0].Push.Repo != "proj" ||
		len(seen[0].Push.Findings) != 1 || seen[0].Push.Findings[0].Reason != "test fixture" || seen[0].Push.Refs[0] != "refs/heads/approved" {
		t.Fatalf("the holder saw %+v", seen)
	}

	e.run(dir, "checkout", "--quiet", "-b", "rejected")
	e.commit(dir, "app.py", "KEY = 2 # gitleaks:allow\n", "marked again")
	h.decision = supervise.Decision{Status: supervise.StatusRejected, Reason: "not in this repo"}
	out = e.fail(dir, "push", "origin", "rejected")
	if !strings.Contains(out, "the operator rejected this push: not in this repo") {
		t.Errorf("git output does not give the operator's reason:\n%s", out)
	}
	e.wantRef(t, "refs/heads/rejected", "")
	if p := e.up.takePushes(); len(p) != 0 {
		t.Errorf("a rejected push reached the upstream: %+v", p)
	}

	h.decision = supervise.Decision{Status: supervise.StatusExpired}
	e.run(dir, "checkout", "--quiet", "-b", "expired")
	e.commit(dir, "app.py", "KEY = 3 # gitleaks:allow\n", "marked, nobody decides")
	if out := e.fail(dir, "push", "origin", "expired"); !strings.Contains(out, "no operator decided in time") {
		t.Errorf("git output of an expired hold:\n%s", out)
	}
	e.wantRef(t, "refs/heads/expired", "")

	// Another rejection in the push: refused at once, nobody asked.
	h.take()
	e.checker.set(func(p *Push) ([]Rejection, error) {
		rejs, _ := allowMarked(p)
		return append(rejs, Rejection{Ref: p.Commands[0].Name, Rule: "secret-detected", Reason: "secret detected by git-gate"}), nil
	})
	h.decision = supervise.Decision{Status: supervise.StatusApproved}
	e.run(dir, "checkout", "--quiet", "-b", "mixed")
	e.commit(dir, "app.py", "KEY = 4\n", "plain secret too")
	e.fail(dir, "push", "origin", "mixed")
	e.wantRef(t, "refs/heads/mixed", "")
	if seen := h.take(); len(seen) != 0 {
		t.Errorf("a push with a plain secret was put to the operator: %+v", seen)
	}
}
