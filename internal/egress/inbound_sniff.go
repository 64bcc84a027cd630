package egress

import (
	"bufio"
	"io"
	"net/http"
	"unicode/utf8"
)

// sniffLen is how much of a body decides whether it is text.
const sniffLen = 512

// sniffText reports whether the start of resp's body looks like text,
// leaving the body whole for whoever reads it next.
func sniffText(resp *http.Response) bool {
	br := bufio.NewReaderSize(resp.Body, sniffLen)
	head, _ := br.Peek(sniffLen)
	resp.Body = struct {
		io.Reader
		io.Closer
	}{br, resp.Body}
	return looksText(head)
}

// looksText reports whether the start of a body, or of a piece of one,
// is text an agent would read: at most one byte in ten of its first
// sniffLen is a control character or not UTF-8 (a rune cut at the end
// aside). Images, archives and compressed data fail at once; a stray NUL
// in a page does not hide it.
func looksText(b []byte) bool {
	b = b[:min(len(b), sniffLen)]
	bad := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1 && !utf8.FullRune(b[i:]):
			// A rune cut at the end of the piece.
		case r == utf8.RuneError && size == 1, r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f', r == 0x7F:
			bad++
		}
		i += size
	}
	return bad*10 <= len(b)
}
