//go:build linux

package native

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// The attach protocol between `bot-bottle attach` and a detached bottle's
// supervisor, over the Unix socket attach.sock in the bottle's folder
// (0600, in a 0700 folder: the operator's alone). Each message is a frame:
// a kind byte, a big-endian uint32 length, then that many bytes. Both
// sides open with a hello; the supervisor ends with an exit frame.
const (
	frameHello  = 'h' // both ways, first: a JSON hello
	frameStdin  = 'i' // to the supervisor: keystrokes for the terminal
	frameResize = 'r' // to the supervisor: rows, cols as big-endian uint16s
	frameStdout = 'o' // to the client: the command's output (all of it on a terminal)
	frameStderr = 'e' // to the client: the command's standard error
	frameExit   = 'x' // to the client, last: the command's status, big-endian int32
)

// attachVersion is the version of the attach protocol this binary speaks.
const attachVersion = 1

// maxFrame bounds what either side accepts in one frame.
const maxFrame = 1 << 20

// hello opens an attach connection. The client sends its version; the
// supervisor answers with its own, whether the command has a terminal,
// and an error when it refuses the client.
type hello struct {
	Version int    `json:"version"`
	TTY     bool   `json:"tty,omitempty"`
	Error   string `json:"error,omitempty"`
}

// writeFrame writes one frame in a single write, so that writers sharing
// a connection under a lock never interleave.
func writeFrame(w io.Writer, kind byte, data []byte) error {
	buf := make([]byte, 5+len(data))
	buf[0] = kind
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(data))) //nolint:gosec // G115: frames are far below 4 GiB
	copy(buf[5:], data)
	_, err := w.Write(buf)
	return err
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach frame of %d bytes is over the %d limit", n, maxFrame)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, nil, err
	}
	return hdr[0], data, nil
}

func writeHello(w io.Writer, h hello) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return writeFrame(w, frameHello, data)
}

func readHello(r io.Reader) (hello, error) {
	kind, data, err := readFrame(r)
	if err != nil {
		return hello{}, err
	}
	var h hello
	if kind != frameHello {
		return h, fmt.Errorf("attach: got a %q frame before the hello", kind)
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("attach: reading the hello: %w", err)
	}
	return h, nil
}

// ctrlC is the byte a raw terminal sends for the interrupt key.
const ctrlC = 0x03

// attachSocket connects s to the main command of the detached bottle
// whose supervisor listens on sock, and returns the command's status once
// it ends. When ctx ends first, or the person presses Ctrl-C on a raw
// terminal while the command has none, it detaches and the bottle runs on.
func attachSocket(ctx context.Context, sock, slug string, s backend.Stdio) (int, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", sock)
	if err != nil {
		return 0, fmt.Errorf("reaching the supervisor of bottle %s: %w", slug, err)
	}
	defer func() { _ = conn.Close() }()
	// Ending ctx closes the connection, which ends every read below.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if err := writeHello(conn, hello{Version: attachVersion}); err != nil {
		return 0, fmt.Errorf("attaching to bottle %s: %w", slug, err)
	}
	r := bufio.NewReader(conn)
	h, err := readHello(r)
	if err != nil {
		return 0, orCanceled(ctx, fmt.Errorf("attaching to bottle %s: %w", slug, err))
	}
	if h.Error != "" {
		return 0, fmt.Errorf("attaching to bottle %s: %s", slug, h.Error)
	}
	var wmu sync.Mutex
	send := func(kind byte, data []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(conn, kind, data)
	}
	detach := make(chan struct{})
	switch {
	case h.TTY && s.Stdin != nil:
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Stdin.Read(buf)
				if n > 0 && send(frameStdin, buf[:n]) != nil {
					return
				}
				// The end of our input is not the end of the bottle's:
				// like Docker's, its terminal stays open for the next
				// attach.
				if err != nil {
					return
				}
			}
		}()
	case s.TTY && s.Stdin != nil:
		// The command has no terminal and reads nothing, but ours is
		// raw: its interrupt key arrives as a byte, and means detach.
		go func() {
			buf := make([]byte, 256)
			for {
				n, err := s.Stdin.Read(buf)
				if bytes.IndexByte(buf[:n], ctrlC) >= 0 {
					close(detach)
					_ = conn.Close()
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	if h.TTY && s.Resize != nil {
		go func() {
			for sz := range s.Resize {
				var b [4]byte
				binary.BigEndian.PutUint16(b[:2], uint16(sz[0])) //nolint:gosec // G115: terminal sizes fit
				binary.BigEndian.PutUint16(b[2:], uint16(sz[1])) //nolint:gosec // G115: terminal sizes fit
				if send(frameResize, b[:]) != nil {
					return
				}
			}
		}()
	}
	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	for {
		kind, data, err := readFrame(r)
		if err != nil {
			select {
			case <-detach:
				return 0, fmt.Errorf("detached from bottle %s, which runs on: %w", slug, context.Canceled)
			default:
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("the connection closed before the command ended")
			}
			return 0, orCanceled(ctx, fmt.Errorf("attached to bottle %s: %w; 'bot-bottle list active' shows whether it runs", slug, err))
		}
		switch kind {
		case frameStdout:
			_, _ = stdout.Write(data)
		case frameStderr:
			_, _ = stderr.Write(data)
		case frameExit:
			if len(data) != 4 {
				return 0, fmt.Errorf("attached to bottle %s: a bad exit frame", slug)
			}
			return int(int32(binary.BigEndian.Uint32(data))), nil //nolint:gosec // G115: a status sent as int32
		}
	}
}

// orCanceled returns ctx's error when it has ended: a closed connection
// is then our own doing.
func orCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// exitFrame is the payload of an exit frame.
func exitFrame(status int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(status))) //nolint:gosec // G115: statuses fit in int32
	return b[:]
}

// helloTimeout bounds how long the supervisor waits for a client's hello.
const helloTimeout = 5 * time.Second
