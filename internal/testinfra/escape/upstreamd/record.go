package main

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

const (
	// maxHits bounds the log; further hits are counted as dropped.
	maxHits = 20000
	// maxBodyBytes bounds the bodies kept across all hits; past it, hits
	// are kept without their body.
	maxBodyBytes = 64 << 20
)

// recorder is the hit log behind GET /hits.
type recorder struct {
	log *slog.Logger

	mu sync.Mutex
	// hits, bodyBytes, dropped and icmp are guarded by mu.
	hits      []hits.Hit
	bodyBytes int
	dropped   int
	icmp      bool
}

// add records h, stamped with the current time, and logs it on one line.
func (r *recorder) add(h hits.Hit) {
	h.Time = time.Now().UTC()
	if !utf8.ValidString(h.Body) {
		h.BodyBase64 = base64.StdEncoding.EncodeToString([]byte(h.Body))
		h.Body = strings.ToValidUTF8(h.Body, "\uFFFD")
	}
	size := len(h.Body) + len(h.BodyBase64)
	r.mu.Lock()
	if len(r.hits) >= maxHits {
		r.dropped++
		r.mu.Unlock()
		r.log.Warn("hit dropped: log full", "proto", h.Proto, "port", h.Port, "remote", h.Remote)
		return
	}
	if r.bodyBytes+size > maxBodyBytes {
		h.Body, h.BodyBase64, h.BodyTruncated, size = "", "", true, 0
	}
	r.bodyBytes += size
	r.hits = append(r.hits, h)
	r.mu.Unlock()

	attrs := []slog.Attr{slog.String("proto", h.Proto), slog.Int("port", h.Port), slog.String("remote", h.Remote)}
	for _, kv := range [][2]string{
		{"sni", h.SNI}, {"method", h.Method}, {"host", h.Host}, {"path", h.Path},
		{"dns_name", h.DNSName}, {"dns_type", h.DNSType}, {"transport", h.Transport},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	r.log.LogAttrs(context.Background(), slog.LevelInfo, "hit", attrs...)
}

func (r *recorder) setICMP(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.icmp = on
}

func (r *recorder) report() hits.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	hs := make([]hits.Hit, len(r.hits))
	copy(hs, r.hits)
	return hits.Report{Hits: hs, ICMPRecording: r.icmp, Dropped: r.dropped}
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits, r.bodyBytes, r.dropped = nil, 0, 0
}

// port returns the port of a, or 0.
func port(a net.Addr) int {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.Port
	case *net.UDPAddr:
		return a.Port
	case nil:
		return 0
	}
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
