package main

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

const (
	// maxDrain bounds how much of a request body past hits.MaxBody is
	// read and thrown away, so uploads complete.
	maxDrain = 64 << 20
	// bigSize is the size of the /big response.
	bigSize = 1 << 20
)

// newHTTPServer returns an http.Server with bounded timeouts.
func (s *server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    256 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// serveHTTP serves the fake upstream on addr: HTTPS (HTTP/1.1 and h2)
// with cert, else plain HTTP.
func (s *server) serveHTTP(addr string, cert *tls.Certificate) (net.Addr, error) {
	ln, err := s.listenTCP(addr)
	if err != nil {
		return nil, err
	}
	srv := s.newHTTPServer(http.HandlerFunc(s.upstream))
	if cert != nil {
		srv.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{*cert},
			MinVersion:   tls.VersionTLS12,
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				s.rec.add(hits.Hit{Proto: hits.ProtoTLS, Port: port(hello.Conn.LocalAddr()), Remote: hello.Conn.RemoteAddr().String(), SNI: hello.ServerName})
				return nil, nil
			},
		}
	}
	if !s.track(srv) {
		return nil, net.ErrClosed
	}
	s.wg.Go(func() {
		var err error
		if cert != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		// close may shut the listener before the server.
		if !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("http server stopped", "addr", ln.Addr().String(), "err", err.Error())
		}
	})
	return ln.Addr(), nil
}

// upstream records r and answers it: /stream* with five server-sent
// events 100ms apart, /big with 1 MiB, anything else with one line.
func (s *server) upstream(w http.ResponseWriter, r *http.Request) {
	body, cut := readBody(r.Body)
	h := hits.Hit{
		Proto:         hits.ProtoHTTP,
		Remote:        r.RemoteAddr,
		Method:        r.Method,
		Host:          r.Host,
		Path:          r.RequestURI,
		Version:       r.Proto,
		Headers:       r.Header.Clone(),
		Body:          body,
		BodyTruncated: cut,
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		h.Port = port(a)
	}
	if r.TLS != nil {
		h.Proto, h.SNI = hits.ProtoHTTPS, r.TLS.ServerName
	}
	s.rec.add(h)

	switch {
	case strings.HasPrefix(r.URL.Path, "/stream"):
		stream(w, r)
	case strings.HasSuffix(r.URL.Path, "/echo"):
		// Reflects the request's headers, as debugging endpoints do: a
		// credential the sidecar injected must not come back through it.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-Authorization", r.Header.Get("Authorization"))
		_ = json.NewEncoder(w).Encode(map[string]any{"headers": r.Header, "authorization_base64": base64.StdEncoding.EncodeToString([]byte(r.Header.Get("Authorization")))})
	case r.URL.Path == "/big":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(bigSize))
		_, _ = io.Copy(w, io.LimitReader(filler{}, bigSize))
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		//nolint:gosec // G705: text/plain with nosniff, read by tests only.
		fmt.Fprintf(w, "ok %s %s\n", r.Method, r.URL.Path)
	}
}

// readBody returns the first hits.MaxBody bytes of body, and whether
// there was more, which it reads (up to maxDrain) and discards.
func readBody(body io.Reader) (string, bool) {
	var b bytes.Buffer
	_, _ = io.Copy(&b, io.LimitReader(body, hits.MaxBody))
	n, _ := io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	return b.String(), n > 0
}

func stream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := range 5 {
		if i > 0 {
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// filler reads as an endless run of 'x'.
type filler struct{}

func (filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// serveControl serves the control API, whose requests are not recorded.
func (s *server) serveControl(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+hits.PathHits, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(s.rec.report()); err != nil {
			s.log.Warn("writing hits", "err", err.Error())
		}
	})
	mux.HandleFunc("POST "+hits.PathReset, func(w http.ResponseWriter, _ *http.Request) {
		s.rec.reset()
		fmt.Fprintln(w, "ok")
	})
	srv := s.newHTTPServer(mux)
	if !s.track(srv) {
		_ = ln.Close()
		return nil, net.ErrClosed
	}
	s.wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("control server stopped", "err", err.Error())
		}
	})
	return ln.Addr(), nil
}
