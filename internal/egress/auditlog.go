package egress

import (
	"log/slog"

	"github.com/bot-bottle/bot-bottle/internal/audit"
)

// AuditLog writes events to a hash-chained audit log.
type AuditLog struct {
	W      *audit.Writer
	Bottle string
	Log    *slog.Logger
}

type auditLine struct {
	Bottle string `json:"bottle"`
	Event
}

// Record implements AuditSink.
func (a *AuditLog) Record(ev Event) {
	if err := a.W.Write(auditLine{Bottle: a.Bottle, Event: ev}); err != nil && a.Log != nil {
		a.Log.Error("writing audit log", "err", err)
	}
}
