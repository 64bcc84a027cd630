package egress

import (
	"bufio"
	"net"
	"net/http"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
)

// Event is one decision, as written to the audit log. It never holds a
// secret: paths are recorded without their query.
type Event struct {
	Time     time.Time `json:"time"`
	Method   string    `json:"method"`
	Host     string    `json:"host"`
	Path     string    `json:"path"`
	Route    string    `json:"route,omitempty"`
	Decision string    `json:"decision"`
	Rule     string    `json:"rule,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Status   int       `json:"status"`
	Bytes    int64     `json:"bytes"`
	Duration float64   `json:"duration_ms"`
	// Proposal, By and Diff are set on supervise's records: the proposal,
	// the operator who decided it, and the authority it adds.
	Proposal string   `json:"proposal,omitempty"`
	By       string   `json:"by,omitempty"`
	Diff     []string `json:"diff,omitempty"`
	// WebSocket is set on a WebSocket session's event (method
	// "websocket", status 101, written when the session ends; Bytes is
	// what the agent received, as for a response).
	WebSocket *WebSocket `json:"websocket,omitempty"`

	// scrubbed is set once the proxy redacted the event; patternsPassed
	// once the request passed the route's token patterns.
	scrubbed, patternsPassed bool
}

// WebSocket is what a WebSocket session carried: the frames and bytes
// (frame headers included) passed each way, out being the agent's.
type WebSocket struct {
	FramesOut int64 `json:"frames_out"`
	BytesOut  int64 `json:"bytes_out"`
	FramesIn  int64 `json:"frames_in"`
	BytesIn   int64 `json:"bytes_in"`
	// Redacted counts the agent's messages sent on with DLP matches
	// redacted; Suspected the upstream's text messages graded medium by
	// the injection detector (logged, passed).
	Redacted  int64 `json:"redacted,omitempty"`
	Suspected int64 `json:"injection_suspected,omitempty"`
}

// recorder accumulates one request's event.
type recorder struct {
	p     *Proxy
	start time.Time
	ev    Event
}

func (p *Proxy) start(r *http.Request, t target) *recorder {
	host := t.host
	if t.port != "" && t.port != "443" && t.port != "80" {
		host = net.JoinHostPort(t.host, t.port)
	}
	return &recorder{p: p, start: time.Now(), ev: Event{Method: r.Method, Host: host, Path: r.URL.Path}}
}

func (rc *recorder) refuse(w http.ResponseWriter, rf *refusal) {
	if rf.code == BlockHostNotAllowed && rc.p.state.Load().pol.IsQuiet(normHost(rc.ev.Host)) {
		// The agent CLI's own call, refused all the same: recorded the
		// first time, counted after (quiet.go).
		if !rc.p.quiet.refused(normHost(rc.ev.Host)) {
			rf.write(w)
			return
		}
		rf.reason += quietReason
	}
	// Security: the host, path and reason may carry what the agent tried
	// to send; every record of them, and the page it gets, is redacted.
	rc.ev.Rule, rc.ev.Reason = rf.code, rf.reason
	rc.p.scrubEvent(&rc.ev)
	rf.reason = rc.ev.Reason
	rf.hint = rc.p.hint(rf.code, rc.ev.Method, rc.ev.Host, rc.ev.Path)
	rf.write(w)
	rc.p.refusals.add(RecentRefusal{Time: rc.start.UTC(), Method: rc.ev.Method, Host: rc.ev.Host, Path: rc.ev.Path, Rule: rf.code, Reason: rf.reason})
	rc.p.log.Info("refused", "method", rc.ev.Method, "host", rc.ev.Host, "path", rc.ev.Path, "rule", rf.code)
	rc.done(http.StatusForbidden, 0, "block", rf.code, rf.reason)
}

func (rc *recorder) done(status int, n int64, decision, rule string, reason ...string) {
	// A request that switched protocols (its writer was hijacked) is
	// recorded by its session when it ends, with what the session
	// carried (websocket.go): this event would only repeat it.
	if rc.p.audit == nil || status == http.StatusSwitchingProtocols && rc.ev.WebSocket == nil {
		return
	}
	rc.ev.Time = rc.start.UTC()
	rc.ev.Status = status
	rc.ev.Bytes = n
	rc.ev.Decision = decision
	rc.ev.Rule = rule
	if len(reason) > 0 {
		rc.ev.Reason = reason[0]
	}
	rc.ev.Duration = float64(time.Since(rc.start).Microseconds()) / 1000
	rc.p.scrubEvent(&rc.ev)
	rc.p.audit.Record(rc.ev)
}

// countingWriter counts response bytes and keeps the status.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	// rd redacts informational (1xx) responses, which the reverse proxy
	// relays without ModifyResponse.
	rd *dlp.Redactor
}

func (w *countingWriter) WriteHeader(code int) {
	if code < http.StatusOK && w.rd.HasSecrets() {
		redactHeader(w.rd, w.Header())
	}
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Hijack hands the connection to a switched protocol (the reverse proxy
// does, after a 101) and notes the status, which it writes itself.
func (w *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach Flush.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
