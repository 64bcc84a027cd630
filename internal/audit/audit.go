// Package audit writes and verifies bot-bottle's hash-chained JSON Lines
// audit logs. Each line is one event; it carries its sequence number and
// the SHA-256 of the previous line, so that editing, deleting or
// reordering any line but the last breaks the chain. It never sees
// secrets: callers pass events that hold none.
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Genesis is the prev hash of a log's first line.
var Genesis = strings.Repeat("0", 64)

// MaxLine bounds one audit line.
const MaxLine = 1 << 20

// Writer appends events to a log file, continuing its chain.
type Writer struct {
	mu sync.Mutex
	// f, seq and prev are guarded by mu.
	f    *os.File
	seq  uint64
	prev string
}

// Open opens (or creates) the log at path for appending. An existing log
// is verified first: appending to a broken chain would hide the break.
func Open(path string) (*Writer, error) {
	w := &Writer{prev: Genesis}
	if data, err := os.Open(path); err == nil {
		n, head, verr := Verify(data)
		_ = data.Close()
		if verr != nil {
			return nil, fmt.Errorf("existing audit log %s does not verify: %w", path, verr)
		}
		w.seq, w.prev = uint64(n), head //nolint:gosec // G115: n counts lines, never negative.
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	w.f = f
	return w, nil
}

// Write appends one event: a JSON object (usually a struct) to which seq
// and prev are added.
func (w *Writer) Write(event any) error {
	body, err := json.Marshal(event)
	if err != nil {
		return err
	}
	if len(body) < 2 || body[0] != '{' {
		return errors.New("audit event must encode as a JSON object")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var line bytes.Buffer
	fmt.Fprintf(&line, `{"seq":%d,"prev":"%s"`, w.seq+1, w.prev)
	if len(body) > 2 {
		line.WriteByte(',')
	}
	line.Write(body[1:])
	line.WriteByte('\n')
	if _, err := w.f.Write(line.Bytes()); err != nil {
		return err
	}
	w.seq++
	w.prev = lineHash(line.Bytes()[:line.Len()-1])
	return nil
}

// Close closes the log file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

func lineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// ChainError says where a log's chain breaks.
type ChainError struct {
	Line   int
	Reason string
}

func (e *ChainError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Verify reads a log and checks its chain. It returns the number of lines
// and the hash of the last one (the head, to record elsewhere: a log's last
// line is only as safe as the copy of its head).
func Verify(r io.Reader) (n int, head string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	head = Genesis
	for sc.Scan() {
		n++
		line := sc.Bytes()
		var hdr struct {
			Seq  *uint64 `json:"seq"`
			Prev *string `json:"prev"`
		}
		if err := json.Unmarshal(line, &hdr); err != nil {
			return n, head, &ChainError{n, "not a JSON object"}
		}
		switch {
		case hdr.Seq == nil || hdr.Prev == nil:
			return n, head, &ChainError{n, "missing seq or prev"}
		case *hdr.Seq != uint64(n):
			return n, head, &ChainError{n, fmt.Sprintf("seq is %d, want %d (a line was removed or reordered)", *hdr.Seq, n)}
		case *hdr.Prev != head:
			return n, head, &ChainError{n, "prev does not match the hash of the line before (a line was changed)"}
		}
		head = lineHash(line)
	}
	if err := sc.Err(); err != nil {
		return n, head, err
	}
	return n, head, nil
}
