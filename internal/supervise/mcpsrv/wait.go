package mcpsrv

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// wait waits for proposal id's decision, at most WaitMax (or seconds,
// when that is shorter and positive), sending a
// progress notification about every ProgressEvery when the client sent
// a progress token. The handler keeps its own time so that the client
// hears from it whether or not the Agent calls progress.
func (t tools) wait(ctx context.Context, req *mcp.CallToolRequest, id string, seconds int) (*mcp.CallToolResult, DecisionOut, error) {
	limit := t.opts.WaitMax
	if seconds > 0 && int64(seconds) < int64(limit/time.Second) {
		limit = time.Duration(seconds) * time.Second
	}
	n := newNotifier(req, id, t.opts)
	ctx, cancel := t.calls.bind(ctx, req)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.tick(ctx)
	}()
	p, err := t.a.Wait(ctx, id, limit, func(waited time.Duration) { n.notify(ctx, waited) })
	cancel()
	<-done
	if err != nil {
		return nil, DecisionOut{}, err
	}
	return nil, decisionOut(p), nil
}

// notifier sends one call's progress notifications.
type notifier struct {
	ss    *mcp.ServerSession
	token any
	id    string
	opts  Options
	start time.Time

	mu   sync.Mutex
	last time.Time
}

func newNotifier(req *mcp.CallToolRequest, id string, opts Options) *notifier {
	n := &notifier{id: id, opts: opts, start: time.Now()}
	if req != nil && req.Params != nil {
		n.ss, n.token = req.Session, req.Params.GetProgressToken()
	}
	return n
}

// tick notifies every ProgressEvery until ctx ends.
func (n *notifier) tick(ctx context.Context) {
	if n.token == nil || n.ss == nil {
		return
	}
	tk := time.NewTicker(n.opts.ProgressEvery)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			n.notify(ctx, time.Since(n.start))
		}
	}
}

// notify sends one notification unless one went out less than half a
// ProgressEvery ago (the Agent's calls and the ticker overlap).
func (n *notifier) notify(ctx context.Context, waited time.Duration) {
	if n.token == nil || n.ss == nil {
		return
	}
	n.mu.Lock()
	now := time.Now()
	if !n.last.IsZero() && now.Sub(n.last) < n.opts.ProgressEvery/2 {
		n.mu.Unlock()
		return
	}
	n.last = now
	n.mu.Unlock()
	msg := fmt.Sprintf("waiting for the operator (%s of at most %s); call %s with id %q if this returns pending",
		waited.Round(time.Second), n.opts.WaitMax.Round(time.Second), ToolWaitForDecision, n.id)
	err := n.ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
		ProgressToken: n.token,
		Message:       msg,
		Progress:      waited.Seconds(),
		Total:         n.opts.WaitMax.Seconds(),
	})
	if err != nil {
		n.opts.Log.DebugContext(ctx, "progress notification failed", "id", n.id, "err", err)
	}
}
