package egress

import (
	"crypto/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const docsPolicy = `{
  "version": 1, "bottle": "t", "log": 0,
  "routes": [
    {"host": "docs.test", "dlp": {"outbound": [], "inbound": ["naive_injection_detection"], "on_match": "block"}, "git_fetch": false}
  ],
  "tokens": []
}`

// corpusDir holds the detector's attack and benign corpora.
const corpusDir = "../dlp/testdata/inbound"

// TestInboundInjectionCurl: a real TLS upstream serves pages of the
// detector's corpora, and real curl fetches them through the proxy. Every
// injection is withheld (403, injection-inbound; cut when streamed) and
// audited as a block, also when labelled binary; benign pages (READMEs, API
// JSON) and a real binary arrive byte for byte.
func TestInboundInjectionCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required for the egress client tests (apt-get install curl)")
	}
	upCA := mustCA(t, "upstream")
	types := map[string]string{".txt": "text/plain", ".md": "text/markdown", ".html": "text/html", ".json": "application/json"}
	random := make([]byte, 64<<10)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	srv := tlsServer(t, upCA, "docs.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /whole/<corpus>/<file> is sent with a length, /stream/... in
		// flushed pieces without one; /octet/... and /png/... with a
		// length under a binary type, as an attacker labels a page to
		// slip past a scanner that trusts the label.
		if r.URL.Path == "/random.bin" {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(random)
			return
		}
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
		if len(parts) != 3 {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(filepath.Join(corpusDir, parts[1], parts[2]))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", types[filepath.Ext(parts[2])])
		switch parts[0] {
		case "octet":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(body)
			return
		case "png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(body)
			return
		case "whole":
			_, _ = w.Write(body)
			return
		}
		for len(body) > 0 {
			n := min(len(body), 512)
			_, _ = w.Write(body[:n])
			w.(http.Flusher).Flush()
			body = body[n:]
		}
	}), true)
	roots := rootsOf(upCA)
	pol := mustPolicy(t, docsPolicy)
	ca := mustCA(t, "t")
	audit := &memAudit{}
	p, err := New(Config{
		Policy:        pol,
		CA:            ca,
		Resolve:       map[string]string{"docs.test": srv.Listener.Addr().String()},
		UpstreamRoots: roots,
		Audit:         audit,
	})
	if err != nil {
		t.Fatal(err)
	}
	proxy, caFile := frontForCurl(t, p, ca)
	fetch := func(t *testing.T, path string) (status, block, body string) {
		t.Helper()
		dir := t.TempDir()
		hdr, out := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
		if o, err := runErr(dir, nil, curl, "-sS", "--proxy", proxy, "--cacert", caFile,
			"-D", hdr, "-o", out, "-w", "%{http_code}", "https://docs.test"+path); err != nil {
			t.Fatalf("curl %s: %v\n%s", path, err, o)
		} else {
			status = o
		}
		h, _ := os.ReadFile(hdr)
		for l := range strings.SplitSeq(string(h), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, BlockHeader) {
				block = strings.TrimSpace(v)
			}
		}
		b, _ := os.ReadFile(out)
		return status, block, string(b)
	}
	// audited waits for the audit event of path (recorded when the
	// handler returns, which may be just after curl has read it all).
	audited := func(t *testing.T, path string) Event {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			audit.mu.Lock()
			for _, ev := range audit.ev {
				if ev.Path == path {
					audit.mu.Unlock()
					return ev
				}
			}
			audit.mu.Unlock()
		}
		t.Fatalf("no audit event for %s", path)
		return Event{}
	}

	attacks, err := filepath.Glob(filepath.Join(corpusDir, "attack", "*"))
	if err != nil || len(attacks) < 12 {
		t.Fatalf("attack corpus: %d files, %v", len(attacks), err)
	}
	for _, f := range attacks {
		name := filepath.Base(f)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("attack/"+name, func(t *testing.T) {
			path := "/whole/attack/" + name
			status, block, body := fetch(t, path)
			if status != "403" || block != BlockInjection || strings.Contains(body, string(raw)) {
				t.Errorf("GET %s = %s %q %q, want it withheld with %s", path, status, block, body, BlockInjection)
			}
			if ev := audited(t, path); ev.Decision != "block" || ev.Rule != BlockInjection {
				t.Errorf("audit of %s = %+v, want a %s block", path, ev, BlockInjection)
			}
		})
		t.Run("attack/"+name+"/streamed", func(t *testing.T) {
			path := "/stream/attack/" + name
			_, _, body := fetch(t, path)
			if strings.Contains(body, string(raw)) || !strings.Contains(body, "bot-bottle egress cut this response") {
				t.Errorf("streamed injection = %q, want it cut", body)
			}
			if ev := audited(t, path); ev.Decision != "block" || ev.Rule != BlockInjection {
				t.Errorf("audit of %s = %+v, want a %s block", path, ev, BlockInjection)
			}
		})
	}
	for _, mode := range []string{"octet", "png"} {
		t.Run("attack/issue-example.txt/as-"+mode, func(t *testing.T) {
			path := "/" + mode + "/attack/issue-example.txt"
			status, block, body := fetch(t, path)
			if status != "403" || block != BlockInjection || strings.Contains(body, "id_rsa") {
				t.Errorf("injection labelled %s = %s %q %q, want it withheld with %s", mode, status, block, body, BlockInjection)
			}
			if ev := audited(t, path); ev.Decision != "block" || ev.Rule != BlockInjection {
				t.Errorf("audit of %s = %+v, want a %s block", path, ev, BlockInjection)
			}
		})
	}
	t.Run("binary/random.bin", func(t *testing.T) {
		status, block, body := fetch(t, "/random.bin")
		if status != "200" || block != "" || body != string(random) {
			t.Errorf("GET /random.bin = %s %q, body changed: %v; want it delivered unchanged", status, block, body != string(random))
		}
	})
	for _, name := range []string{"readme-badges.md", "github-repo.json", "gitignore-guide.md", "ssh-key-setup.md", "multilingual.md"} {
		raw, err := os.ReadFile(filepath.Join(corpusDir, "benign", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"whole", "stream", "octet"} {
			t.Run("benign/"+name+"/"+mode, func(t *testing.T) {
				path := "/" + mode + "/benign/" + name
				status, block, body := fetch(t, path)
				if status != "200" || block != "" || body != string(raw) {
					t.Errorf("GET %s = %s %q, body changed: %v; want it delivered unchanged", path, status, block, body != string(raw))
				}
				if ev := audited(t, path); ev.Decision != "allow" {
					t.Errorf("audit of %s = %+v, want allow", path, ev)
				}
			})
		}
	}
}
