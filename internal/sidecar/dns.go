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

// dnsService listens on addr (UDP and TCP) for the bottle's resolver. It
// answers the hosts of the current policy and nothing else; the policy is
// read per query, so reloads apply at once. The func returned closes
// both sockets.
func dnsService(addr string, pol *atomic.Pointer[policy.Policy], sink egress.AuditSink, log *slog.Logger) (service, func(), error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return service{}, nil, fmt.Errorf("listening for DNS on udp %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = pc.Close()
		return service{}, nil, fmt.Errorf("listening for DNS on tcp %s: %w", addr, err)
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
	hpc, hln := holdPacket(pc), hold(ln)
	svc := service{name: "dns", serve: func(ctx context.Context) error {
		return srv.Serve(ctx, hpc.view(), hln.view())
	}}
	return svc, func() { _ = hpc.Close(); _ = hln.Close() }, nil
}
