package egress

import (
	"log/slog"
	"sync/atomic"

	"github.com/bot-bottle/bot-bottle/internal/audit"
)

// AuditLog writes events to a hash-chained audit log.
type AuditLog struct {
	// W, when set, is the log file.
	W      *audit.Writer
	Bottle string
	Log    *slog.Logger
	// Tap, when set, receives each event once redacted (the control
	// channel's follow of the audit).
	Tap func(Event)

	// proxy redacts the events that did not come through it (DNS, the
	// git gate) with its secrets; set by New.
	proxy atomic.Pointer[Proxy]
}

type auditLine struct {
	Bottle string `json:"bottle"`
	Event
}

// Record implements AuditSink.
func (a *AuditLog) Record(ev Event) {
	if p := a.proxy.Load(); p != nil {
		p.scrubEvent(&ev)
	}
	if a.Tap != nil {
		a.Tap(ev)
	}
	if a.W == nil {
		return
	}
	if err := a.W.Write(auditLine{Bottle: a.Bottle, Event: ev}); err != nil && a.Log != nil {
		a.Log.Error("writing audit log", "err", err)
	}
}
