package egress

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
)

// BlockInjection marks a response replaced because it carried a prompt
// injection.
const BlockInjection = "injection-inbound"

// maxInboundBuffer is the largest response scanned whole; longer or
// unsized ones are scanned as they stream.
const maxInboundBuffer = 4 << 20

// scanTail is how much of a stream is kept to catch a phrase that spans
// two reads.
const scanTail = 2 << 10

// modifyResponse runs inbound DLP on a response before it reaches the
// agent.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	f, ok := resp.Request.Context().Value(routeKey{}).(forwarded)
	if ok {
		p.redactResponse(resp, f)
	}
	if !ok || f.note.rule == BlockResponseEncoding || !slices.Contains(f.route.DLP.Inbound, dlp.NaiveInjection) {
		return nil
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	// A body labelled binary is still text to an agent that prints it
	// (inbound_sniff.go): one that starts like text is scanned whole; any
	// other is streamed, and each piece that looks like text is scanned.
	declared := textual(resp.Header.Get("Content-Type"))
	if ct != "text/event-stream" && resp.ContentLength >= 0 && resp.ContentLength <= maxInboundBuffer &&
		(declared || sniffText(resp)) {
		return p.scanWhole(resp, f)
	}
	resp.Body = &injectionReader{
		rc:    resp.Body,
		sniff: !declared,
		sse:   ct == "text/event-stream",
		hit: func(c dlp.Confidence, label string) {
			p.log.Warn("inbound injection", "host", f.route.Host, "confidence", c.String(), "what", label)
			if c == dlp.High {
				f.note.rule = BlockInjection
			}
		},
	}
	return nil
}

func (p *Proxy) scanWhole(resp *http.Response, f forwarded) error {
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	text := raw
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		if text, err = decode(strings.ToLower(strings.TrimSpace(enc)), raw); err != nil {
			text = raw
		}
	}
	c, label := dlp.ScanInjection(string(text))
	switch c {
	case dlp.High:
		p.log.Warn("inbound injection refused", "host", f.route.Host, "what", label)
		f.note.rule = BlockInjection
		msg := fmt.Sprintf("bot-bottle egress withheld this response from %s (%s): it looks like a prompt injection (%s)\n", f.route.Host, BlockInjection, label)
		resp.StatusCode = http.StatusForbidden
		resp.Status = "403 Forbidden"
		resp.Header = http.Header{}
		resp.Header.Set("Content-Type", "text/plain; charset=utf-8")
		resp.Header.Set(BlockHeader, BlockInjection)
		resp.Header.Set("Content-Length", strconv.Itoa(len(msg)))
		resp.ContentLength = int64(len(msg))
		resp.Body = io.NopCloser(strings.NewReader(msg))
		return nil
	case dlp.Medium:
		p.log.Info("inbound injection suspected", "host", f.route.Host, "what", label)
	case dlp.None:
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return nil
}

func textual(contentType string) bool {
	if contentType == "" {
		return true
	}
	ct, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return true
	}
	switch {
	case strings.HasPrefix(ct, "text/"),
		ct == "application/json", strings.HasSuffix(ct, "+json"), ct == "application/x-ndjson",
		ct == "application/xml", strings.HasSuffix(ct, "+xml"),
		ct == "application/javascript", ct == "application/x-www-form-urlencoded":
		return true
	}
	return false
}

// injectionReader scans a streamed response as it passes. Each read is
// handed on at once, so streams keep streaming; on a high-confidence hit
// the stream ends with a notice instead of the rest.
type injectionReader struct {
	rc     io.ReadCloser
	sse    bool
	hit    func(dlp.Confidence, string)
	tail   []byte
	logged bool
	cut    bool
	notice []byte

	// sniff: the type says binary; only pieces that look like text are
	// scanned.
	sniff bool
}

func (r *injectionReader) Read(b []byte) (int, error) {
	if r.cut {
		if len(r.notice) == 0 {
			return 0, io.EOF
		}
		n := copy(b, r.notice)
		r.notice = r.notice[n:]
		return n, nil
	}
	n, err := r.rc.Read(b)
	if r.sniff && n > 0 && !textLike(b[:n], pieceSniffLen) {
		r.tail = r.tail[:0]
		return n, err
	}
	if n > 0 {
		window := append(r.tail, b[:n]...)
		c, label := dlp.ScanInjection(string(window))
		if c == dlp.High {
			r.hit(c, label)
			r.cut = true
			r.notice = []byte(fmt.Sprintf("\n[bot-bottle egress cut this response: it looks like a prompt injection (%s)]\n", label))
			if r.sse {
				r.notice = []byte(fmt.Sprintf("\n\nevent: bot-bottle-block\ndata: bot-bottle egress cut this stream (%s): %s\n\n", BlockInjection, label))
			}
			return r.Read(b)
		}
		if c == dlp.Medium && !r.logged {
			r.logged = true
			r.hit(c, label)
		}
		if len(window) > scanTail {
			window = window[len(window)-scanTail:]
		}
		r.tail = append(r.tail[:0], window...)
	}
	return n, err
}

func (r *injectionReader) Close() error { return r.rc.Close() }
