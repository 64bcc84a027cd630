package gitgate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// keepAlive is how often a push waiting for the operator tells the client
// it still waits.
const keepAlive = 15 * time.Second

// askOperator returns rejs, or none when every rejection is of findings
// marked gitleaks:allow alone and the operator approves the push. The
// client hears that the push waits, every keepAlive, until the decision.
func (p *pushRun) askOperator(ctx context.Context, rejs []Rejection) []Rejection {
	if p.s.holder == nil || len(rejs) == 0 || slices.ContainsFunc(rejs, func(r Rejection) bool { return len(r.Allowed) == 0 }) {
		return rejs
	}
	push := &supervise.Push{Repo: p.m.Name}
	for _, rj := range rejs {
		if rj.Withhold {
			return rejs // Security: a ref name with a secret is never shown.
		}
		push.Refs = append(push.Refs, rj.Ref.String())
		for _, a := range rj.Allowed {
			push.Findings = append(push.Findings, supervise.AllowFinding{Commit: a.Commit, File: a.File, Line: a.Line, Rule: a.Rule, Reason: a.Reason})
		}
	}
	n := len(push.Findings)
	prop := supervise.Proposal{
		Kind:    supervise.KindGitleaksAllow,
		Summary: fmt.Sprintf("gitleaks-allow: push to %s (%s): %d finding(s) marked gitleaks:allow", p.m.Name, strings.Join(push.Refs, ", "), n),
		Push:    push,
		Diff:    []supervise.DiffLine{{Op: "+", Text: fmt.Sprintf("forward this push to %s with %d finding(s) marked gitleaks:allow", p.m.Name, n)}},
	}
	p.rep.message("bot-bottle: this push marks potential secrets with gitleaks:allow; it waits for the operator's decision (bot-bottle supervise)")
	waitCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		for {
			select {
			case <-waitCtx.Done():
				return
			case <-t.C:
				p.rep.message("bot-bottle: still waiting for the operator")
			}
		}
	}()
	d, err := p.s.holder.Hold(ctx, prop)
	stop()
	<-done
	switch {
	case err == nil && d.Status.Granted():
		p.rep.message("bot-bottle: the operator approved this push")
		p.s.log.Info("push approved by the operator", "repo", p.m.Name, "findings", n)
		return nil
	case err != nil:
		p.rep.message("bot-bottle: the push could not wait for the operator: " + oneLine(err.Error()))
	case d.Status == supervise.StatusRejected:
		p.rep.message("bot-bottle: the operator rejected this push: " + oneLine(supervise.Escape(d.Reason)))
	default:
		p.rep.message("bot-bottle: no operator decided in time; the push is refused")
	}
	return rejs
}
