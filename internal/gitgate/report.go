package gitgate

import (
	"bytes"
	"net/http"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
)

// reporter writes a git-receive-pack response: messages the client shows
// as "remote: " lines, then the report-status. It is safe for concurrent
// use, as an Upstream may write its progress from another goroutine.
type reporter struct {
	mu sync.Mutex
	// The fields below are guarded by mu.
	w        http.ResponseWriter
	mux      *sideband.Muxer // nil without side-band-64k
	report   bool            // the client asked for report-status
	started  bool
	finished bool
}

func newReporter(w http.ResponseWriter, caps capSet) *reporter {
	rp := &reporter{w: w, report: caps.has(capReportStatus)}
	if caps.has(capSideBand64k) {
		rp.mux = sideband.NewMuxer(sideband.Sideband64k, w)
	}
	return rp
}

// Preconditions: rp.mu is held.
func (rp *reporter) start() {
	if rp.started {
		return
	}
	rp.started = true
	rp.w.Header().Set("Content-Type", "application/x-git-receive-pack-result")
	rp.w.Header().Set("Cache-Control", "no-cache")
	rp.w.WriteHeader(http.StatusOK)
}

// message sends text, one "remote: " line per line. Without side-band
// there is no channel for it, and it is dropped.
func (rp *reporter) message(text string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.mux == nil || rp.finished {
		return
	}
	rp.start()
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(strings.TrimRight(line, "\r"))
		b.WriteByte('\n')
	}
	if _, err := rp.mux.WriteChannel(sideband.ProgressMessage, []byte(b.String())); err != nil {
		return
	}
	_ = http.NewResponseController(rp.w).Flush()
}

// status sends the report-status: "unpack ok" (or the unpack error) and
// one "ok REF" or "ng REF REASON" line per command, then ends the
// response.
func (rp *reporter) status(unpack string, lines []string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.finished {
		return
	}
	rp.start()
	rp.finished = true
	if !rp.report {
		return
	}
	var buf bytes.Buffer
	enc := pktline.NewEncoder(&buf)
	_ = enc.EncodeString("unpack " + unpack + "\n")
	for _, l := range lines {
		_ = enc.EncodeString(l + "\n")
	}
	_ = enc.Flush()
	if rp.mux == nil {
		_, _ = rp.w.Write(buf.Bytes())
		return
	}
	if _, err := rp.mux.Write(buf.Bytes()); err != nil {
		return
	}
	_ = pktline.NewEncoder(rp.w).Flush()
}

// progressWriter relays an upstream's progress as "remote: upstream: "
// lines. Progress meters redraw a line after a CR; only the last drawing
// of each line is relayed, as the client's terminal would have shown it.
type progressWriter struct {
	rp    *reporter
	quiet bool

	mu sync.Mutex
	// buf is guarded by mu.
	buf []byte
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	// A meter that never ends its line would otherwise grow buf without
	// bound: keep only its last drawing, and cut endless lines.
	if i := bytes.LastIndexByte(p.buf, '\r'); i >= 0 {
		p.buf = append(p.buf[:0], p.buf[i:]...)
	}
	if len(p.buf) > maxProgressLine {
		p.emit(p.buf)
		p.buf = p.buf[:0]
	}
	return len(b), nil
}

const maxProgressLine = 4 << 10

// flush relays a last unterminated line.
func (p *progressWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.emit(p.buf)
	p.buf = nil
}

// emit relays the last drawing of line. With quiet (git push -q), meters
// are dropped but messages, such as a hook's refusal, are kept.
//
// Preconditions: p.mu is held.
func (p *progressWriter) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	meter := false
	if i := bytes.LastIndexByte(line, '\r'); i >= 0 {
		line, meter = line[i+1:], true
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || meter && p.quiet {
		return
	}
	p.rp.message("upstream: " + string(line))
}
