package egress

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"
)

const inboundPolicy = `{
  "version": 1, "bottle": "t", "log": 0,
  "routes": [
    {"host": "api.test", "dlp": {"outbound": [], "inbound": ["naive_injection_detection"], "on_match": "block"}, "git_fetch": false},
    {"host": "open.test", "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false}
  ],
  "tokens": []
}`

func TestInboundInjection(t *testing.T) {
	e := newEnvWith(t, inboundPolicy)
	c := e.client(false)
	get := func(u string) (int, string, string) {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(BlockHeader), string(b)
	}
	if status, code, body := get("https://api.test/inject"); status != 403 || code != BlockInjection || strings.Contains(body, "id_rsa") {
		t.Errorf("injected page = %d %q %q, want it withheld", status, code, body)
	}
	if status, _, body := get("https://api.test/suspicious"); status != 200 || !strings.Contains(body, "essay") {
		t.Errorf("medium-confidence page = %d %q, want it passed (and logged)", status, body)
	}
	if status, _, body := get("https://open.test/inject"); status != 200 || !strings.Contains(body, "id_rsa") {
		t.Errorf("inbound off: %d %q, want passed", status, body)
	}
}

// TestStreamingKeepsStreaming reads the first SSE event while the upstream
// is still holding the rest: inbound scanning must not buffer a stream.
func TestStreamingKeepsStreaming(t *testing.T) {
	for _, path := range []string{"/sse", "/sse-inject"} {
		t.Run(path, func(t *testing.T) {
			e := newEnvWith(t, inboundPolicy)
			resp, err := e.client(false).Get("https://api.test" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			first := make(chan string, 1)
			go func() {
				l, _ := br.ReadString('\n')
				first <- l
			}()
			select {
			case l := <-first:
				if l != "data: first event\n" {
					t.Fatalf("first line = %q", l)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the first event did not arrive while the stream was open")
			}
			close(e.up.release)
			rest, _ := io.ReadAll(br)
			switch path {
			case "/sse":
				if !strings.Contains(string(rest), "data: last event") {
					t.Errorf("rest of the stream = %q", rest)
				}
			case "/sse-inject":
				if strings.Contains(string(rest), "api keys") || strings.Contains(string(rest), "last event") || !strings.Contains(string(rest), "event: bot-bottle-block") {
					t.Errorf("injected stream went on: %q", rest)
				}
			}
		})
	}
}
