package pushcheck

import (
	"regexp"
	"slices"
	"strings"
)

// Headers git writes. Anything else in a pushed commit or tag is refused:
// an extra header is shown by no git command an operator would run, so it
// is a channel no reviewer sees.
var (
	commitHeaders = []string{"tree", "parent", "author", "committer", "encoding", "gpgsig", "gpgsig-sha256", "mergetag"}
	tagHeaders    = []string{"object", "type", "tag", "tagger", "encoding", "gpgsig", "gpgsig-sha256"}
)

// asciiEncodings match the encoding header values whose bytes spell
// ASCII as ASCII, so that the scan of the raw message sees what a reader
// of the decoded message sees. UTF-16, UTF-32, UTF-7 and EBCDIC do not.
var asciiEncodings = regexp.MustCompile(`(?i)^(utf-?8|(us-)?ascii|iso[-_]?8859[-_]?[0-9]{1,2}|latin-?[0-9]{1,2}|(windows|cp)-?125[0-8]|koi8-?[ru]|shift[-_]?jis|sjis|cp932|euc-?(jp|kr|cn)|gb(k|2312|18030)|big5(-hkscs)?)$`)

// header is one header of a raw commit or tag object.
type header struct {
	name string
	// value holds the header's lines after the name, continuation lines
	// without their leading space, joined by newlines.
	value string
	// first and last are its lines in the object, counted from 1.
	first, last int
}

// rawObject is a commit or tag object split as git writes it: header
// lines ("name value", continued by lines starting with a space), an
// empty line, the message.
type rawObject struct {
	headers []header
	// message is what follows the empty line; msgLine is its first line.
	message string
	msgLine int
	// malformed says how the object departs from what git writes; empty
	// when it does not.
	malformed string
}

// parseObject splits raw. It never fails: an object git would not write
// comes back with malformed set, and everything in it is still scanned.
func parseObject(raw string) rawObject {
	var o rawObject
	if strings.IndexByte(raw, 0) >= 0 {
		// git refuses NUL in commit messages, and a text with NULs (such
		// as UTF-16) hides its ASCII from the scan.
		o.malformed = "it holds a NUL byte"
	}
	line, pos := 0, 0
	for pos < len(raw) {
		end := strings.IndexByte(raw[pos:], '\n')
		next := len(raw)
		if end >= 0 {
			end += pos
			next = end + 1
		} else {
			end = len(raw)
		}
		line++
		text := raw[pos:end]
		pos = next
		switch {
		case text == "":
			o.message, o.msgLine = raw[pos:], line+1
			return o
		case text[0] == ' ':
			if len(o.headers) == 0 {
				o.setMalformed("it starts with a continuation line")
				o.headers = append(o.headers, header{first: line, last: line, value: text[1:]})
				continue
			}
			h := &o.headers[len(o.headers)-1]
			h.value += "\n" + text[1:]
			h.last = line
		default:
			name, value, ok := strings.Cut(text, " ")
			if !ok {
				o.setMalformed("a header line has no value")
			}
			o.headers = append(o.headers, header{name: name, value: value, first: line, last: line})
		}
	}
	if o.headers == nil && raw == "" {
		o.setMalformed("it is empty")
	}
	return o
}

func (o *rawObject) setMalformed(why string) {
	if o.malformed == "" {
		o.malformed = why
	}
}

// unknownHeaders returns the headers of o that are not in known, and an
// encoding header whose value hides ASCII.
func (o *rawObject) unknownHeaders(known []string) []header {
	var out []header
	for _, h := range o.headers {
		switch {
		case !slices.Contains(known, h.name):
			out = append(out, h)
		case h.name == "encoding" && !asciiEncodings.MatchString(h.value):
			out = append(out, h)
		}
	}
	return out
}

// channel names the part of o that line is on, for messages: the header's
// name when git writes it, "message", or "header" for any other.
func (o *rawObject) channel(line int, known []string) string {
	if o.msgLine > 0 && line >= o.msgLine {
		return "message"
	}
	for _, h := range o.headers {
		if line >= h.first && line <= h.last {
			if slices.Contains(known, h.name) {
				return h.name
			}
			return "header"
		}
	}
	return "object"
}
