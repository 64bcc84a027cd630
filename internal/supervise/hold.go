package supervise

import (
	"context"
	"fmt"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

var _ Holder = (*Board)(nil)

// Hold files p, a dlp-hold or gitleaks-allow proposal the sidecar
// raised, and waits for its decision. A hold whose caller gives up (the
// agent closed the request) expires: nothing is let through later.
func (b *Board) Hold(ctx context.Context, p Proposal) (Decision, error) {
	if p.Kind != KindDLPHold && p.Kind != KindGitleaksAllow {
		return Decision{}, fmt.Errorf("a hold is a %s or a %s proposal, not %q", KindDLPHold, KindGitleaksAllow, p.Kind)
	}
	// Security: defence in depth; the holder builds p without the
	// secret, and the board redacts what it shows anyway.
	p.Summary = b.cfg.Redact(p.Summary)
	if p.Hold != nil {
		h := *p.Hold
		h.Path = b.cfg.Redact(h.Path)
		h.Host = b.cfg.Redact(h.Host)
		p.Hold = &h
	}
	if p.Push != nil {
		ps := *p.Push
		ps.Findings = append([]AllowFinding(nil), ps.Findings...)
		for i := range ps.Findings {
			ps.Findings[i].Reason = b.cfg.Redact(ps.Findings[i].Reason)
			ps.Findings[i].File = b.cfg.Redact(ps.Findings[i].File)
		}
		p.Push = &ps
	}
	b.mu.Lock()
	e, err := b.add(p, policy.Match{})
	b.mu.Unlock()
	if err != nil {
		return Decision{Status: StatusRejected, Reason: err.Error()}, err
	}
	b.audit(Record{Proposal: e.p.ID, Kind: p.Kind, Event: "proposed", Host: holdHost(p), Summary: p.Summary, Diff: diffTexts(p.Diff)})
	select {
	case <-e.done:
	case <-ctx.Done():
		b.mu.Lock()
		var rec *Record
		if e.p.Status == StatusPending {
			r := b.finish(e, Decision{Status: StatusExpired, Reason: "the held request or push was abandoned before a decision"})
			rec = &r
		}
		b.mu.Unlock()
		if rec != nil {
			b.audit(*rec)
		}
	}
	b.mu.Lock()
	d := *e.p.Decision
	b.mu.Unlock()
	return d, nil
}

func holdHost(p Proposal) string {
	if p.Hold != nil {
		return p.Hold.Host
	}
	if p.Push != nil {
		return p.Push.Repo
	}
	return ""
}
