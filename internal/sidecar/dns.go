package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/dnsgate"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// serveDNS runs the bottle's resolver on addr (UDP and TCP). It answers
// the hosts of the current policy and nothing else; the policy is read per
// query, so reloads apply at once. It returns when ctx ends or the
// listeners fail; errc receives that error.
func serveDNS(ctx context.Context, addr string, pol *atomic.Pointer[policy.Policy], sink egress.AuditSink, log *slog.Logger) (<-chan error, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for DNS on udp %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("listening for DNS on tcp %s: %w", addr, err)
	}
	srv := dnsgate.New(dnsgate.Config{
		Allow: func(name string) bool {
			_, ok := pol.Load().Lookup(name)
			return ok
		},
		OnQuery: func(q dnsgate.Query) {
			if sink == nil || (q.Allowed && pol.Load().Log < 2) {
				return
			}
			ev := egress.Event{Time: time.Now(), Method: "DNS", Host: q.Name, Path: q.Type, Decision: "allow"}
			if !q.Allowed {
				ev.Decision, ev.Rule = "block", "dns-not-allowed"
			}
			sink.Record(ev)
		},
		Log: log,
	})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, pc, ln) }()
	return errc, nil
}
