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

// looksText reports whether the start of a body is text an agent would
// read: at most one byte in ten of its first sniffLen is a control
// character or not UTF-8 (a rune cut at the end aside). Images, archives
// and compressed data fail within a few bytes; a stray NUL in a page does
// not hide it.
func looksText(b []byte) bool { return textLike(b, sniffLen) }

// pieceSniffLen is how much of each piece of a binary-labelled stream
// decides whether that piece is scanned.
const pieceSniffLen = 128

// textLike applies looksText's rule to the first n bytes of b, giving up
// as soon as too many are not text.
func textLike(b []byte, n int) bool {
	b = b[:min(len(b), n)]
	limit, bad := len(b)/10, 0
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 0x20 && c < 0x7F || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
			i++
			continue
		}
		size := 1
		if c >= utf8.RuneSelf {
			var r rune
			r, size = utf8.DecodeRune(b[i:])
			if r != utf8.RuneError || size != 1 || !utf8.FullRune(b[i:]) {
				i += size
				continue
			}
		}
		if bad++; bad > limit {
			return false
		}
		i += size
	}
	return true
}
