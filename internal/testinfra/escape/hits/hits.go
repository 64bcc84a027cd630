// Package hits defines what the escape suite's fake upstream server
// (upstreamd) records, and a client for its control API. The JSON wire
// format is defined here once, for upstreamd and for the tests that read
// it.
//
// A connection or packet that reaches upstreamd leaves at least one hit, so
// a test that finds no forbidden hit has proved that nothing forbidden got
// through. The client never talks to anything but the control address it
// is given, and never through a proxy.
package hits

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Protocols recorded in Hit.Proto.
const (
	// ProtoTCP is an accepted TCP connection on any port, including the
	// HTTP, HTTPS and DNS ports: one HTTPS request yields a tcp, a tls and
	// an https hit.
	ProtoTCP = "tcp"
	// ProtoTLS is a TLS ClientHello on the HTTPS port, recorded before
	// the handshake completes, so a client that rejects the certificate
	// still leaves its SNI.
	ProtoTLS   = "tls"
	ProtoHTTP  = "http"
	ProtoHTTPS = "https"
	ProtoUDP   = "udp"
	ProtoDNS   = "dns"
	ProtoICMP  = "icmp"
)

// Paths of the control API.
const (
	// PathHits answers GET with a Report.
	PathHits = "/hits"
	// PathReset forgets every hit on POST.
	PathReset = "/reset"
)

// MaxBody is how much of a request or datagram body a Hit keeps.
const MaxBody = 64 << 10

// Hit is one connection, request, datagram, query or echo request that
// reached upstreamd. Fields that do not apply to Proto are empty.
type Hit struct {
	Time   time.Time `json:"time"`
	Proto  string    `json:"proto"`
	Port   int       `json:"port"`
	Remote string    `json:"remote"`
	// SNI is the TLS server name (tls and https hits).
	SNI string `json:"sni"`
	// Method, Host, Path (the request target: path and query), Version
	// and Headers describe an http or https request.
	Method  string      `json:"method"`
	Host    string      `json:"host"`
	Path    string      `json:"path"`
	Version string      `json:"version,omitempty"`
	Headers http.Header `json:"headers,omitempty"`
	// Body is the first MaxBody bytes of a request body, a udp datagram,
	// an icmp echo's data or an unparsable dns message, with invalid
	// UTF-8 replaced; BodyBase64 then holds the bytes exactly (see
	// RawBody). BodyTruncated says some bytes were not kept.
	Body          string `json:"body"`
	BodyBase64    string `json:"body_base64,omitempty"`
	BodyTruncated bool   `json:"body_truncated,omitempty"`
	// DNSName is the queried name, lower case and without the final dot;
	// DNSType is "A", "AAAA", "TXT", … or "TYPE<n>". Both are empty for a
	// message upstreamd could not parse. Transport is "udp" or "tcp".
	DNSName   string `json:"dns_name"`
	DNSType   string `json:"dns_type"`
	Transport string `json:"transport,omitempty"`
}

// RawBody returns the bytes of the body kept.
func (h Hit) RawBody() []byte {
	if h.BodyBase64 == "" {
		return []byte(h.Body)
	}
	b, err := base64.StdEncoding.DecodeString(h.BodyBase64)
	if err != nil {
		return []byte(h.Body)
	}
	return b
}

// String summarizes h for test failure messages.
func (h Hit) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d from %s", h.Proto, h.Port, h.Remote)
	if h.SNI != "" {
		fmt.Fprintf(&b, " sni=%s", h.SNI)
	}
	if h.Method != "" {
		fmt.Fprintf(&b, " %s %s%s", h.Method, h.Host, h.Path)
	}
	if h.DNSName != "" || h.Proto == ProtoDNS {
		fmt.Fprintf(&b, " %s %q", h.DNSType, h.DNSName)
	}
	return b.String()
}

// Report is the answer to GET /hits.
type Report struct {
	Hits []Hit `json:"hits"`
	// ICMPRecording says whether upstreamd could open a raw ICMP socket;
	// when false, an icmp escape cannot be detected.
	ICMPRecording bool `json:"icmp_recording"`
	// Dropped counts hits not kept because the log was full.
	Dropped int `json:"dropped"`
}

// maxReport bounds the size of a /hits answer Fetch reads.
const maxReport = 512 << 20

// client talks to the control API directly, whatever the proxy variables
// say.
var client = &http.Client{Transport: &http.Transport{Proxy: nil}}

// Fetch returns the hits upstreamd recorded at controlURL (e.g.
// "http://10.0.0.5:8081") and whether it records ICMP. It fails if
// upstreamd dropped hits, since a dropped hit might be the forbidden one.
func Fetch(ctx context.Context, controlURL string) ([]Hit, bool, error) {
	resp, err := do(ctx, http.MethodGet, controlURL+PathHits)
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = resp.Body.Close() }()
	var rep Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReport)).Decode(&rep); err != nil {
		return nil, false, fmt.Errorf("decoding hits from %s: %w", controlURL, err)
	}
	if rep.Dropped > 0 {
		return rep.Hits, rep.ICMPRecording, fmt.Errorf("upstreamd at %s dropped %d hits: reset it between tests", controlURL, rep.Dropped)
	}
	return rep.Hits, rep.ICMPRecording, nil
}

// Reset makes upstreamd at controlURL forget every hit.
func Reset(ctx context.Context, controlURL string) error {
	resp, err := do(ctx, http.MethodPost, controlURL+PathReset)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func do(ctx context.Context, method, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}
