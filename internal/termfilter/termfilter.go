// Package termfilter removes, from output bound for the operator's
// terminal, every control sequence that acts on the host rather than on
// the screen: the clipboard (OSC 52), window and tab titles, notifications,
// hyperlinks, palette changes, file transfers, graphics, terminal-multiplexer
// passthrough, window operations, and the queries whose replies a terminal
// types back as input. What a full-screen program needs to draw (text,
// colours and other SGR attributes, cursor movement, erase, scroll regions,
// the alternate screen, mouse, focus and bracketed-paste modes) passes.
//
// It is an allowlist: a sequence passes only when this package knows it is
// harmless, and every other one is dropped whole. All OSC, DCS, SOS, PM and
// APC strings are dropped. The filter is a streaming state machine after
// the DEC VT500 parser (https://vt100.net/emu/dec_ansi_parser), so a
// sequence split across writes is handled like a whole one; 8-bit C1
// controls, raw or UTF-8 encoded, are read as their ESC forms; and what it
// passes is canonical (7-bit, no control inside a sequence), so that the
// terminal parses exactly what the filter parsed.
//
// It must never buffer text: everything but an unfinished sequence or an
// unfinished UTF-8 character goes out at once, for an interactive session.
package termfilter

import (
	"io"
	"sync"
	"unicode/utf8"
)

// Bounds of what the filter holds.
const (
	// maxSeq bounds the parameter and intermediate bytes of an ESC or CSI
	// sequence the filter keeps; a longer one is dropped.
	maxSeq = 256
	// maxString bounds how many bytes of an OSC, DCS, SOS, PM or APC
	// string the filter skips before it takes the string as ended: output
	// after an unterminated string is not lost for ever. Nothing of the
	// string is kept, and the terminal never saw its introducer.
	maxString = 1 << 20
)

type state uint8

const (
	ground    state = iota
	escape          // after ESC, collecting intermediates
	csi             // after CSI, collecting parameters and intermediates
	csiIgnore       // in a CSI that will be dropped, until its final byte
	str             // in a string that is dropped, until its terminator
	strEscape       // after ESC inside a string: ST, or a new sequence
)

// Filter is the streaming filter's state. The zero value is ready for a
// UTF-8 terminal; a Filter is not safe for concurrent use.
type Filter struct {
	// EightBit is set for a terminal that reads single bytes (an 8-bit
	// locale, such as ISO 8859-1): every byte 0x80-0x9F is then a C1
	// control to it, also inside what would be UTF-8, and is read so
	// here; bytes 0xA0-0xFF are text.
	EightBit bool

	state state
	// seq holds the current sequence's bytes after its introducer.
	seq []byte
	// long is set when the current ESC sequence outgrew maxSeq.
	long bool
	// skipped counts the bytes of the current dropped string.
	skipped int
	// pend holds an unfinished UTF-8 character from the last chunk.
	pend    [utf8.UTFMax]byte
	pendLen int
	scratch []byte
}

// plain marks the bytes that pass in ground state as they are: printable
// ASCII and the format effectors BEL, BS, HT, LF, VT, FF, CR, SO and SI.
var plain = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = true
	}
	for _, b := range []byte{0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f} {
		t[b] = true
	}
	return t
}()

// Control bytes with a meaning to the parser.
const (
	esc = 0x1b
	can = 0x18
	sub = 0x1a
	del = 0x7f
	bel = 0x07
	st  = 0x9c
)

var replacement = []byte(string(utf8.RuneError))

// Append filters src, appends what passes to dst and returns it. Bytes of
// an unfinished sequence or character at the end of src are kept for the
// next call.
func (f *Filter) Append(dst, src []byte) []byte {
	if f.pendLen > 0 {
		f.scratch = append(append(f.scratch[:0], f.pend[:f.pendLen]...), src...)
		src = f.scratch
		f.pendLen = 0
	}
	i := 0
	for i < len(src) {
		if f.state == ground {
			j := i
			for j < len(src) {
				if c := src[j]; c < 0x80 {
					if !plain[c] {
						break
					}
					j++
					continue
				} else if f.EightBit {
					if c < 0xa0 {
						break
					}
					j++
					continue
				} else if c == 0xc2 {
					break // perhaps a C1 control, U+0080-U+009F
				}
				r, size := utf8.DecodeRune(src[j:])
				if r == utf8.RuneError && size == 1 {
					break // invalid, or unfinished
				}
				j += size
			}
			dst = append(dst, src[i:j]...)
			if i = j; i == len(src) {
				break
			}
		}
		if f.state == csi && (len(f.seq) == 0 || f.seq[len(f.seq)-1] >= 0x30) {
			// The parameters, at once.
			j := i
			for j < len(src) && src[j] >= 0x30 && src[j] < 0x40 && j-i+len(f.seq) < maxSeq {
				j++
			}
			f.seq = append(f.seq, src[i:j]...)
			if i = j; i == len(src) {
				break
			}
		}
		b := src[i]
		if f.state == strEscape && b >= 0x80 {
			// Not ST: the ESC is dropped, and b read afresh.
			f.reset()
			continue
		}
		if b < 0x80 {
			i++
			if f.state == str || f.state == strEscape {
				dst = f.inString(dst, b)
			} else {
				dst = f.byte(dst, b)
			}
			continue
		}
		if f.EightBit {
			i++
			switch {
			case f.state == str:
				dst = f.inString(dst, b)
			case b < 0xa0:
				dst = f.c1(dst, b)
			default:
				dst = f.text(dst, src[i-1:i])
			}
			continue
		}
		if !utf8.FullRune(src[i:]) {
			f.pendLen = copy(f.pend[:], src[i:])
			break
		}
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case f.state == str:
			// ST ends a string, raw or in UTF-8; anything else is skipped.
			if r == st || r == utf8.RuneError && size == 1 && b == st {
				f.reset()
			} else if f.skipped += size; f.skipped > maxString {
				f.reset()
			}
		case r == utf8.RuneError && size == 1:
			if b < 0xa0 {
				// A raw 8-bit C1 control, as an 8-bit terminal reads it.
				dst = f.c1(dst, b)
			} else {
				dst = f.text(dst, replacement)
			}
		case r >= 0x80 && r < 0xa0:
			dst = f.c1(dst, byte(r))
		default:
			dst = f.text(dst, src[i:i+size])
		}
		i += size
	}
	if len(f.scratch) > 64<<10 {
		f.scratch = nil
	}
	return dst
}

// Flush returns dst with what an ended stream leaves: an unfinished
// character becomes U+FFFD; an unfinished sequence is dropped.
func (f *Filter) Flush(dst []byte) []byte {
	pending := f.pendLen > 0 && f.state != str
	f.pendLen = 0
	f.reset()
	if pending {
		dst = append(dst, replacement...)
	}
	return dst
}

func (f *Filter) reset() {
	f.state, f.seq, f.long, f.skipped = ground, f.seq[:0], false, 0
}

// text appends printable text, which ends any sequence in progress.
func (f *Filter) text(dst, t []byte) []byte {
	if f.state != ground {
		f.reset()
	}
	return append(dst, t...)
}

// c1 handles an 8-bit control as its 7-bit form, ESC then b-0x40.
func (f *Filter) c1(dst []byte, b byte) []byte {
	f.reset()
	f.state = escape
	return f.byte(dst, b-0x40)
}

// inString skips a dropped string's byte b (ASCII, or any when
// EightBit), ending the string at BEL, ST (ESC \, or 0x9C when
// EightBit), CAN, SUB or an ESC that starts another sequence. (The UTF-8
// ST, U+009C or a lone 0x9C, is seen in Append.)
func (f *Filter) inString(dst []byte, b byte) []byte {
	if f.state == strEscape {
		f.reset()
		if b == '\\' {
			return dst
		}
		f.state = escape
		return f.byte(dst, b)
	}
	switch {
	case b == bel || b == can || b == sub || b == st && f.EightBit:
		f.reset()
	case b == esc:
		f.state = strEscape
	default:
		if f.skipped++; f.skipped > maxString {
			f.reset()
		}
	}
	return dst
}

// byte handles an ASCII byte b outside a string.
func (f *Filter) byte(dst []byte, b byte) []byte {
	switch {
	case b == esc:
		f.reset()
		f.state = escape
		return dst
	case b == can || b == sub:
		f.reset()
		return dst
	case b < 0x20:
		// A control inside a sequence acts at once (VT500) and leaves the
		// sequence going.
		if plain[b] {
			dst = append(dst, b)
		}
		return dst
	case b == del:
		return dst
	}
	switch f.state {
	case ground:
		return append(dst, b)
	case escape:
		return f.inEscape(dst, b)
	case csi, csiIgnore:
		return f.inCSI(dst, b)
	case str, strEscape:
		// Append hands string bytes to inString.
	}
	return dst
}

func (f *Filter) inEscape(dst []byte, b byte) []byte {
	if b < 0x30 { // an intermediate
		if len(f.seq) >= 8 {
			f.long = true
		} else {
			f.seq = append(f.seq, b)
		}
		return dst
	}
	if len(f.seq) == 0 {
		switch b {
		case '[':
			f.state = csi
			return dst
		case ']', 'P', 'X', '^', '_':
			f.reset()
			f.state = str
			return dst
		}
	}
	if !f.long && escAllowed(f.seq, b) {
		dst = append(dst, esc)
		dst = append(dst, f.seq...)
		dst = append(dst, b)
	}
	f.reset()
	return dst
}

func (f *Filter) inCSI(dst []byte, b byte) []byte {
	switch {
	case b >= 0x40: // the final byte
		if f.state == csi && csiAllowed(f.seq, b) {
			dst = append(dst, esc, '[')
			dst = append(dst, f.seq...)
			dst = append(dst, b)
		}
		f.reset()
	case f.state == csiIgnore:
	case len(f.seq) >= maxSeq:
		f.state = csiIgnore
	case b >= 0x30 && len(f.seq) > 0 && f.seq[len(f.seq)-1] < 0x30:
		// A parameter after an intermediate: malformed.
		f.state = csiIgnore
	default:
		f.seq = append(f.seq, b)
	}
	return dst
}

// Config is how a Writer filters.
type Config struct {
	// EightBit is Filter.EightBit.
	EightBit bool
}

// Writer filters what it is given and writes the rest to an underlying
// writer. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer // guarded by mu
	f   Filter    // guarded by mu
	buf []byte    // guarded by mu
}

// NewWriter returns a Writer that filters into w.
func NewWriter(w io.Writer, cfg Config) *Writer {
	return &Writer{w: w, f: Filter{EightBit: cfg.EightBit}}
}

// Write implements io.Writer. It reports all of p written once the bytes
// that pass are written.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = w.f.Append(w.buf[:0], p)
	if err := w.writeBuf(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what an ended stream leaves (see Filter.Flush).
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = w.f.Flush(w.buf[:0])
	return w.writeBuf()
}

// writeBuf writes buf. Preconditions: w.mu is held.
func (w *Writer) writeBuf() error {
	defer func() {
		if cap(w.buf) > 64<<10 {
			w.buf = nil
		}
	}()
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	return err
}
