package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// dlpHolder is the proxy's Supervisor: a request that outbound DLP
// matched on a route whose outbound_on_match is supervise waits on the
// board as a dlp-hold proposal, and goes out only if the operator
// approves that one request.
type dlpHolder struct {
	// board returns the bottle's board, set before the proxy serves.
	board func() *supervise.Board
}

// redactedMark replaces a match in what a proposal shows.
const redactedMark = "[REDACTED]"

// Approve implements egress.Supervisor. Its error, when it refuses, says
// why for the agent's refusal page.
func (h dlpHolder) Approve(r *http.Request, findings []dlp.Finding) (bool, error) {
	hold := heldRequest(r, findings)
	p := supervise.Proposal{
		Kind: supervise.KindDLPHold,
		Summary: fmt.Sprintf("dlp-hold: %s %s%s (%s in %s)", hold.Method, hold.Host, hold.Path,
			strings.Join(hold.Rules, ", "), strings.Join(hold.Where, ", ")),
		Hold: &hold,
		Diff: []supervise.DiffLine{{Op: "+", Text: fmt.Sprintf("send this one %s request to %s despite the DLP match", hold.Method, hold.Host)}},
	}
	b := h.board()
	if b == nil {
		return false, fmt.Errorf("no operator channel is wired")
	}
	d, err := b.Hold(r.Context(), p)
	if err != nil {
		return false, fmt.Errorf("the request was not held for the operator: %w", err)
	}
	switch {
	case d.Status.Granted():
		return true, nil
	case d.Status == supervise.StatusRejected:
		return false, fmt.Errorf("the operator rejected the held request: %s", supervise.Escape(d.Reason))
	default:
		return false, fmt.Errorf("the held request expired (%s)", supervise.Escape(d.Reason))
	}
}

// heldRequest is what the operator sees of r: never a match itself.
func heldRequest(r *http.Request, findings []dlp.Finding) supervise.Hold {
	host := r.URL.Hostname()
	if host == "" {
		host = r.Host
	}
	h := supervise.Hold{Host: host, Method: r.Method, Path: r.URL.EscapedPath()}
	for _, f := range findings {
		if t := f.Text(); t != "" {
			// Security: the matched text never reaches the proposal.
			h.Path = strings.ReplaceAll(h.Path, t, redactedMark)
			h.Host = strings.ReplaceAll(h.Host, t, redactedMark)
		}
		rule := f.Detector + ":" + f.Rule
		if f.Slot != "" {
			rule = f.Detector + ":" + f.Slot + " (" + f.Rule + ")"
		}
		if !slices.Contains(h.Rules, rule) {
			h.Rules = append(h.Rules, rule)
		}
		if f.Surface != "" && !slices.Contains(h.Where, f.Surface) {
			h.Where = append(h.Where, f.Surface)
		}
	}
	return h
}

// boardHolder holds for the board once the sidecar has made it; before,
// nothing can be held and the caller refuses.
type boardHolder struct{ board func() *supervise.Board }

func (h boardHolder) Hold(ctx context.Context, p supervise.Proposal) (supervise.Decision, error) {
	b := h.board()
	if b == nil {
		return supervise.Decision{}, errors.New("no operator channel is wired")
	}
	return b.Hold(ctx, p)
}
