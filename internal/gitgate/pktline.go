package gitgate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
)

// Limits on the pkt-line part of a request. Git itself has none; these
// only stop a client from growing the parsed request without bound (the
// pack after the commands has its own limit, Config.MaxPackBytes).
const (
	maxCommands    = 100_000
	maxPushOptions = 1_000
	maxHaves       = 1_000_000
)

// pktReader reads pkt-lines without reading ahead, so that the pack which
// follows the commands of a push can be read from the same reader.
type pktReader struct {
	s *pktline.Scanner
}

func newPktReader(r io.Reader) *pktReader { return &pktReader{s: pktline.NewScanner(r)} }

// next returns the next payload without its trailing LF; flush is set for
// a flush-pkt. At the end of the input it returns io.EOF.
func (p *pktReader) next() (line []byte, flush bool, err error) {
	if !p.s.Scan() {
		if err := p.s.Err(); err != nil {
			return nil, false, err
		}
		return nil, false, io.EOF
	}
	b := p.s.Bytes()
	if len(b) == 0 {
		return nil, true, nil
	}
	return bytes.TrimSuffix(b, []byte("\n")), false, nil
}

// capSet holds the capabilities a client asked for.
type capSet map[string]string

func parseCaps(s string) capSet {
	caps := capSet{}
	for f := range strings.FieldsSeq(s) {
		k, v, _ := strings.Cut(f, "=")
		caps[k] = v
	}
	return caps
}

func (c capSet) has(name string) bool {
	_, ok := c[name]
	return ok
}

// pushRequest is the pkt-line part of a git-receive-pack request.
type pushRequest struct {
	commands []Command
	caps     capSet
	options  []string
}

// needsPack reports whether the client sends a pack after the commands:
// it does unless every command is a delete.
func (p *pushRequest) needsPack() bool {
	for _, c := range p.commands {
		if !c.Delete() {
			return true
		}
	}
	return false
}

// readPushRequest reads the commands of a push and, when the client asked
// for push-options, the options, leaving r at the start of the pack. An
// empty request (the lone flush-pkt git sends as a probe before a large
// chunked POST) returns no commands and no error.
func readPushRequest(r io.Reader) (*pushRequest, error) {
	pr := newPktReader(r)
	req := &pushRequest{caps: capSet{}}
	seen := map[plumbing.ReferenceName]bool{}
	for {
		line, flush, err := pr.next()
		if errors.Is(err, io.EOF) && len(req.commands) == 0 {
			return req, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading commands: %w", err)
		}
		if flush {
			break
		}
		if len(req.commands) == maxCommands {
			return nil, fmt.Errorf("more than %d commands", maxCommands)
		}
		if len(req.commands) == 0 {
			if bytes.HasPrefix(line, []byte("shallow ")) {
				return nil, errors.New("shallow pushes are not supported")
			}
			var caps []byte
			line, caps, _ = bytes.Cut(line, []byte{0})
			req.caps = parseCaps(string(caps))
		}
		c, err := parseCommand(line)
		if err != nil {
			return nil, err
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("duplicate command for %s", c.Name)
		}
		seen[c.Name] = true
		req.commands = append(req.commands, c)
	}
	if len(req.commands) == 0 || !req.caps.has(capPushOptions) {
		return req, nil
	}
	for {
		line, flush, err := pr.next()
		if err != nil {
			return nil, fmt.Errorf("reading push options: %w", err)
		}
		if flush {
			return req, nil
		}
		if len(req.options) == maxPushOptions {
			return nil, fmt.Errorf("more than %d push options", maxPushOptions)
		}
		if bytes.IndexByte(line, 0) >= 0 || bytes.IndexByte(line, '\n') >= 0 {
			return nil, fmt.Errorf("push option %q holds NUL or LF", line)
		}
		req.options = append(req.options, string(line))
	}
}

// parseCommand parses "OLD NEW REF".
func parseCommand(line []byte) (Command, error) {
	f := strings.Split(string(line), " ")
	if len(f) != 3 {
		return Command{}, fmt.Errorf("malformed command %q", line)
	}
	old, okOld := parseHash(f[0])
	nw, okNew := parseHash(f[1])
	// Control characters in a name could break the report-status lines
	// that echo it; the ref name rules come later, per command.
	if !okOld || !okNew || f[2] == "" || strings.ContainsFunc(f[2], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Command{}, fmt.Errorf("malformed command %q", line)
	}
	return Command{Name: plumbing.ReferenceName(f[2]), Old: old, New: nw}, nil
}

// parseHash parses a full lowercase hexadecimal SHA-1, the only form git
// sends.
func parseHash(s string) (plumbing.Hash, bool) {
	if len(s) != 40 {
		return plumbing.ZeroHash, false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		default:
			return plumbing.ZeroHash, false
		}
	}
	return plumbing.NewHash(s), true
}

// fetchRequest is one git-upload-pack request of the stateless (HTTP)
// protocol: the wants, then the haves of every round so far, ending with
// done or with a flush-pkt asking for acknowledgements only.
type fetchRequest struct {
	wants []plumbing.Hash
	caps  capSet
	haves []plumbing.Hash
	done  bool
}

// readFetchRequest parses a git-upload-pack request. An empty request (the
// probe git sends before a large chunked POST) returns no wants.
func readFetchRequest(r io.Reader) (*fetchRequest, error) {
	pr := newPktReader(r)
	req := &fetchRequest{caps: capSet{}}
	for {
		line, flush, err := pr.next()
		if errors.Is(err, io.EOF) && len(req.wants) == 0 {
			return req, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading wants: %w", err)
		}
		if flush {
			break
		}
		rest, ok := bytes.CutPrefix(line, []byte("want "))
		if !ok {
			return nil, unsupportedLine(line)
		}
		hex, caps, _ := bytes.Cut(rest, []byte(" "))
		h, ok := parseHash(string(hex))
		if !ok {
			return nil, fmt.Errorf("malformed want %q", line)
		}
		if len(req.wants) == 0 {
			req.caps = parseCaps(string(caps))
		}
		if len(req.wants) == maxHaves {
			return nil, fmt.Errorf("more than %d wants", maxHaves)
		}
		req.wants = append(req.wants, h)
	}
	if len(req.wants) == 0 {
		return req, nil
	}
	for {
		line, flush, err := pr.next()
		if errors.Is(err, io.EOF) {
			// The end of a round: git's stateless client ends a round
			// with a flush-pkt, but EOF asks for the same answer.
			return req, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading haves: %w", err)
		}
		switch {
		case flush:
			continue
		case string(line) == "done":
			req.done = true
			return req, nil
		}
		hex, ok := bytes.CutPrefix(line, []byte("have "))
		if !ok {
			return nil, unsupportedLine(line)
		}
		h, ok := parseHash(string(hex))
		if !ok {
			return nil, fmt.Errorf("malformed have %q", line)
		}
		if len(req.haves) == maxHaves {
			return nil, fmt.Errorf("more than %d haves", maxHaves)
		}
		req.haves = append(req.haves, h)
	}
}

func unsupportedLine(line []byte) error {
	word, _, _ := bytes.Cut(line, []byte(" "))
	switch string(word) {
	case "shallow", "deepen", "deepen-since", "deepen-not":
		return errors.New("shallow fetches are not supported")
	case "filter":
		return errors.New("partial clones are not supported")
	}
	return fmt.Errorf("unexpected line %q", line)
}
