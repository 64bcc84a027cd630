package gitgate

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// requestBody returns r's body, decompressed when git gzipped it (it does
// for upload-pack requests over 1 KiB). Go's server has already undone
// chunked transfer encoding.
func requestBody(r *http.Request) (io.ReadCloser, error) {
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return r.Body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip request body: %w", err)
		}
		return zr, nil
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
}

// errTooLarge is returned by a limitReader past its limit.
var errTooLarge = errors.New("size limit exceeded")

// limitReader reads at most n bytes, then fails with errTooLarge rather
// than io.EOF, so that a truncated pack is told apart from a short one.
// It counts what it read.
type limitReader struct {
	r    io.Reader
	n    int64
	read int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the limit: only more input makes it too large.
		var b [1]byte
		if n, err := l.r.Read(b[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	l.read += int64(n)
	return n, err
}
