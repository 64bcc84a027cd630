package manifest

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// MaxFileSize bounds a manifest file. Manifests are small; a huge one is a
// mistake or an attack on the parser.
const MaxFileSize = 1 << 20

// document is a manifest file split into its frontmatter and body.
type document struct {
	yaml []byte
	// yamlLine is the file line on which the YAML starts (the line after
	// the opening ---).
	yamlLine int
	body     string
}

// split separates the frontmatter block from the Markdown body. The file
// must open with a line holding only "---" and the block ends at the next
// such line.
func split(file string, data []byte, ds *Diagnostics) (document, bool) {
	at := Pos{File: file, Line: 1, Col: 1}
	if len(data) > MaxFileSize {
		ds.errorf(at, "file is %d bytes, over the %d-byte limit for a manifest", len(data), MaxFileSize)
		return document{}, false
	}
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:firstInvalidUTF8(data)], []byte("\n"))
		ds.errorf(Pos{File: file, Line: line, Col: 1}, "file is not valid UTF-8")
		return document{}, false
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if bytes.IndexByte(data, 0) >= 0 {
		line := 1 + bytes.Count(data[:bytes.IndexByte(data, 0)], []byte("\n"))
		ds.errorf(Pos{File: file, Line: line, Col: 1}, "file holds a NUL byte")
		return document{}, false
	}
	first, rest, _ := cutLine(data)
	if !isFence(first) {
		ds.errorf(at, "a manifest starts with a YAML frontmatter block: put a line holding only --- first, the YAML keys, then another --- line")
		return document{}, false
	}
	var fm []byte
	for off := 0; ; {
		if off >= len(rest) {
			ds.errorf(at, "the frontmatter block opened here is never closed: add a line holding only --- after the YAML keys")
			return document{}, false
		}
		l, _, ok := cutLine(rest[off:])
		next := off + len(l)
		if ok {
			next++
		}
		if isFence(l) {
			fm = rest[:off]
			body := string(rest[next:])
			return document{yaml: fm, yamlLine: 2, body: strings.TrimSpace(body)}, true
		}
		off = next
	}
}

func cutLine(b []byte) (line, rest []byte, found bool) {
	return bytes.Cut(b, []byte("\n"))
}

func isFence(line []byte) bool {
	return string(bytes.TrimRight(line, " \t\r")) == "---"
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
