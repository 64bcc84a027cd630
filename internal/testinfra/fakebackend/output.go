package fakebackend

import (
	"context"
	"io"
	"sync"
)

// Streams of a chunk of output.
const (
	streamStdout = 1
	streamStderr = 2
)

type chunk struct {
	stream int
	data   []byte
}

// output keeps everything a bottle's main command wrote, so that every
// Attach replays it from the start and then follows it live.
type output struct {
	// mu guards the fields below.
	mu     sync.Mutex
	chunks []chunk
	closed bool
	// changed is closed, and replaced, on every write and at close.
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

// writer returns a writer appending to stream.
func (o *output) writer(stream int) io.Writer { return streamWriter{o, stream} }

type streamWriter struct {
	o      *output
	stream int
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	w.o.chunks = append(w.o.chunks, chunk{w.stream, append([]byte(nil), p...)})
	w.o.notify()
	return len(p), nil
}

// close says the command ended: followers stop after the last chunk.
func (o *output) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.notify()
}

// notify wakes followers. Preconditions: o.mu is held.
func (o *output) notify() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// follow copies the output from the start to stdout and stderr (stdout
// alone when tty) until the command ends, then returns nil; or until ctx
// ends, then returns its error.
func (o *output) follow(ctx context.Context, stdout, stderr io.Writer, tty bool) error {
	next := 0
	for {
		o.mu.Lock()
		pending := o.chunks[next:]
		next = len(o.chunks)
		closed, changed := o.closed, o.changed
		o.mu.Unlock()
		for _, c := range pending {
			w := stdout
			if c.stream == streamStderr && !tty {
				w = stderr
			}
			_, _ = w.Write(c.data)
		}
		if closed {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// copyAll writes the whole output so far to w.
func (o *output) copyAll(w io.Writer) error {
	o.mu.Lock()
	chunks := o.chunks
	o.mu.Unlock()
	for _, c := range chunks {
		if _, err := w.Write(c.data); err != nil {
			return err
		}
	}
	return nil
}
