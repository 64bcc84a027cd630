package dlp

import (
	"io"
	"sync"
)

// streamChunk is how much a redacting reader reads at once.
const streamChunk = 32 << 10

// bufs recycles the readers' buffers: a proxy makes one per response.
var bufs = sync.Pool{New: func() any { b := make([]byte, streamChunk); return &b }}

// Reader returns rc with every known-secret form masked as it streams:
// each match is replaced by a mask of the same length, so a sized body
// keeps its size. With text, forms written with percent or JSON escapes
// are found too. A match split across reads is found: the reader holds
// back only a tail that could begin a form, so a stream whose reads end
// elsewhere is passed on at once. onHit, if set, is called once per
// read that had a match.
func (r *Redactor) Reader(rc io.ReadCloser, text bool, onHit func()) io.ReadCloser {
	return &redactReader{rc: rc, r: r, text: text, onHit: onHit}
}

type redactReader struct {
	rc    io.ReadCloser
	r     *Redactor
	text  bool
	onHit func()
	// buf[:safe] is redacted and passed on from out; buf[safe:n] is held.
	buf     []byte
	pooled  *[]byte
	out     int
	safe, n int
	err     error
}

func (x *redactReader) Read(p []byte) (int, error) {
	for x.out == x.safe {
		if x.err != nil {
			return 0, x.err
		}
		if x.buf == nil {
			x.pooled = bufs.Get().(*[]byte)
			x.buf = *x.pooled
		}
		x.n = copy(x.buf, x.buf[x.safe:x.n])
		x.out, x.safe = 0, 0
		if len(x.buf)-x.n < streamChunk/2 {
			x.buf = append(x.buf, make([]byte, streamChunk)...)
		}
		n, err := x.rc.Read(x.buf[x.n:])
		x.n += n
		if err != nil {
			x.err = err
		}
		if n > 0 || err != nil {
			x.process(err != nil)
		}
	}
	n := copy(p, x.buf[x.out:x.safe])
	x.out += n
	return n, nil
}

func (x *redactReader) process(final bool) {
	b := x.buf[:x.n]
	spans, safe := x.r.Scan(b, x.text, final)
	if len(spans) > 0 && x.onHit != nil {
		x.onHit()
	}
	replaceSpans(b[:safe], spans, true)
	x.safe = safe
}

// Close closes the body and recycles the buffer; the reader must not be
// read after.
func (x *redactReader) Close() error {
	if x.pooled != nil && len(x.buf) == streamChunk {
		bufs.Put(x.pooled)
	}
	x.pooled, x.buf, x.out, x.safe, x.n = nil, nil, 0, 0, 0
	if x.err == nil {
		x.err = io.ErrClosedPipe
	}
	return x.rc.Close()
}

// Scan finds the known-secret forms in b and returns their spans and how
// much of b is safe to pass on: all of it when final, else all but a
// tail that could begin a form. Every returned span ends within the safe
// part.
func (r *Redactor) Scan(b []byte, text, final bool) (spans [][2]int, safe int) {
	if r == nil || len(r.exact) == 0 {
		return nil, len(b)
	}
	spans = r.find(b, nil)
	safe = len(b)
	if !final {
		safe = r.hold(b)
	}
	if text {
		e := len(b)
		if !final {
			e = incompleteEscape(b)
		}
		head := b[:e]
		if hasEscape(head) {
			dv, pos := decodeView(head)
			for _, sp := range r.find(dv, nil) {
				spans = append(spans, [2]int{pos.rawPos(sp[0]), pos.rawPos(sp[1])})
			}
			if !final {
				safe = min(safe, pos.rawPos(r.hold(dv)))
			}
		} else if !final {
			safe = min(safe, r.hold(head))
		}
		safe = min(safe, e)
	}
	if len(spans) == 0 {
		return nil, safe
	}
	spans = mergeSpans(spans)
	var kept [][2]int
	for _, sp := range spans {
		if sp[0] < safe {
			safe = max(safe, sp[1])
			kept = append(kept, sp)
		}
	}
	return kept, safe
}

// incompleteEscape returns where an escape cut off at the end of b
// starts, or len(b).
func incompleteEscape(b []byte) int {
	for p := max(0, len(b)-5); p < len(b); p++ {
		rest := len(b) - p
		switch {
		case b[p] == '%' && rest < 3,
			b[p] == '\\' && (rest == 1 || b[p+1] == 'u' && rest < 6 || b[p+1] == 'x' && rest < 4):
			return p
		}
	}
	return len(b)
}
