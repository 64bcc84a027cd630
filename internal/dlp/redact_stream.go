package dlp

import "io"

// Reader returns rc with every known-secret form masked as it streams:
// each match is replaced by a mask of the same length, so a sized body
// keeps its size. With text, forms written with percent or JSON escapes
// are found too. A match split across reads is found: the reader holds
// back only a tail that could begin a form, so a stream whose reads end
// elsewhere is passed on at once. onHit, if set, is called once per
// read that had a match.
func (r *Redactor) Reader(rc io.ReadCloser, text bool, onHit func()) io.ReadCloser {
	return &redactReader{rc: rc, r: r, text: text, onHit: onHit, minRead: 6*r.maxSpan + 64}
}

// redactReader scans in the caller's buffer, so a body is copied no more
// than it would be without it; reads smaller than minRead go through a
// buffer of its own.
type redactReader struct {
	rc    io.ReadCloser
	r     *Redactor
	text  bool
	onHit func()
	// held was read but not passed on: it may begin a form.
	held []byte
	// ready was redacted in tmp and is passed on to small reads.
	ready, tmp []byte
	minRead    int
	err        error
	sc         scratch
}

func (x *redactReader) Read(p []byte) (int, error) {
	for {
		if len(x.ready) > 0 {
			n := copy(p, x.ready)
			x.ready = x.ready[n:]
			return n, nil
		}
		if len(p) >= x.minRead && 2*len(x.held) <= len(p) {
			if n, err := x.readInto(p); n > 0 || err != nil {
				return n, err
			}
			continue
		}
		if need := 2*len(x.held) + x.minRead; len(x.tmp) < need {
			x.tmp = make([]byte, need)
		}
		n, err := x.readInto(x.tmp)
		if n == 0 && err != nil {
			return 0, err
		}
		x.ready = x.tmp[:n]
	}
}

// readInto fills p with the held bytes and new ones and passes on the
// part that cannot begin a form. It returns 0 and no error when what it
// must hold no longer leaves room in p.
func (x *redactReader) readInto(p []byte) (int, error) {
	for {
		if x.err != nil && len(x.held) == 0 {
			return 0, x.err
		}
		if 2*len(x.held) > len(p) {
			return 0, nil
		}
		h := copy(p, x.held)
		x.held = x.held[:0]
		n := 0
		if x.err == nil {
			var err error
			n, err = x.rc.Read(p[h:])
			if err != nil {
				x.err = err
			}
		}
		total := h + n
		spans, safe := x.r.scan(p[:total], x.text, x.err != nil, &x.sc)
		if len(spans) > 0 && x.onHit != nil {
			x.onHit()
		}
		replaceSpans(p[:safe], spans, true)
		x.held = append(x.held, p[safe:total]...)
		if safe > 0 {
			return safe, nil
		}
	}
}

func (x *redactReader) Close() error { return x.rc.Close() }

// Scan finds the known-secret forms in b and returns their spans and how
// much of b is safe to pass on: all of it when final, else all but a
// tail that could begin a form. Every returned span ends within the safe
// part.
func (r *Redactor) Scan(b []byte, text, final bool) (spans [][2]int, safe int) {
	return r.scan(b, text, final, nil)
}

func (r *Redactor) scan(b []byte, text, final bool, sc *scratch) (spans [][2]int, safe int) {
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
			dv, pos := decodeViewInto(head, sc)
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
