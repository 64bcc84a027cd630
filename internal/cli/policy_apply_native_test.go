//go:build linux

package cli_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// Hosts of the fake upstream of TestNativePolicyApply; the sidecar dials
// both at the one loopback server.
const (
	applyHostOne = "one.apply.test"
	applyHostTwo = "two.apply.test"
)

// applyUpstream is an HTTPS server for both apply hosts that records the
// Authorization header each host was sent.
type applyUpstream struct {
	mu   sync.Mutex
	auth map[string][]string
}

func (u *applyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.auth[r.Host] = append(u.auth[r.Host], r.Header.Get("Authorization"))
	u.mu.Unlock()
	_, _ = fmt.Fprintf(w, "hello from %s\n", r.Host)
}

func (u *applyUpstream) authSeen(host string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.auth[host]...)
}

// TestNativePolicyApply replaces a detached bottle's policy from a bottle
// file: widening it to a second host that gets a credential new to the
// bottle, then narrowing it back, and checks the printed authority and
// that curl in the bottle follows each step.
func TestNativePolicyApply(t *testing.T) {
	w := newNativeWorld(t)
	up := &applyUpstream{auth: map[string][]string{}}
	caFile, certPEM, keyPEM := backendtest.UpstreamCert(t, t.TempDir(), applyHostOne, applyHostTwo)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(up)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	const token = "apply-test-credential-4f1c9e"
	w.env = append(w.env,
		"BOT_BOTTLE_UPSTREAM_CA="+caFile,
		"BOT_BOTTLE_EGRESS_RESOLVE="+applyHostOne+"="+addr+","+applyHostTwo+"="+addr,
		"APPLY_TOKEN="+token,
	)
	w.writeManifest("bottles", "applybase", `---
agent_provider:
  template: shell
workspace:
  mode: none
egress:
  routes:
    - host: `+applyHostOne+`
---
`)
	w.writeManifest("bottles", "applied", "---\nextends: applybase\n---\n")
	w.writeManifest("agents", "applier", "---\nbottle: applied\n---\n")
	// The wider bottle lives outside the home; its parent comes from it.
	wider := filepath.Join(t.TempDir(), "wider.md")
	if err := os.WriteFile(wider, []byte(`---
extends: applybase
egress:
  routes:
    - host: `+applyHostTwo+`
      auth: {scheme: Bearer, token_ref: APPLY_TOKEN}
      matches:
        - methods: [GET]
          paths: [{type: prefix, value: /ok}]
---
`), 0o600); err != nil {
		t.Fatal(err)
	}
	narrow := filepath.Join(w.home, "bottles", "applied.md")

	out, err := w.cmd("start", "applier", "--yes", "--detach", "--", "sleep", "600").Output()
	if err != nil {
		t.Fatalf("start --detach: %v\n%s", err, out)
	}
	slug := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = w.cmd("stop", slug).Run() })
	status := func(url string) string {
		t.Helper()
		got, _ := w.run("exec", slug, "--", "curl", "-s", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_connect} %{http_code}", url)
		return strings.TrimSpace(got)
	}
	apply := func(args ...string) (string, int) {
		t.Helper()
		got, code := w.run(append([]string{"policy", slug}, args...)...)
		t.Logf("policy %s %v: exit %d\n%s", slug, args, code, got)
		if strings.Contains(got, token) {
			t.Fatalf("policy %v printed the credential:\n%s", args, got)
		}
		return got, code
	}
	if got := status("https://" + applyHostOne + "/ok"); got != "200 200" {
		t.Fatalf("before: %s answered %q, want 200", applyHostOne, got)
	}
	if got := status("https://" + applyHostTwo + "/ok"); !strings.HasPrefix(got, "403") {
		t.Fatalf("before: %s answered %q, want a refused CONNECT", applyHostTwo, got)
	}

	wantWider := `+ egress two.apply.test: GET prefix "/ok"
+ egress two.apply.test: injects $APPLY_TOKEN as Bearer
+ egress two.apply.test: outbound scan token_patterns,known_secrets, inbound scan naive_injection_detection, on a match supervise
`
	t.Run("no terminal and no --yes", func(t *testing.T) {
		got, code := apply("--apply", wider)
		if code == 0 || !strings.Contains(got, "pass --yes") || !strings.Contains(got, wantWider) {
			t.Fatalf("exit %d:\n%s", code, got)
		}
		if got := status("https://" + applyHostTwo + "/ok"); !strings.HasPrefix(got, "403") {
			t.Fatalf("refused apply changed the policy: %s answered %q", applyHostTwo, got)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		got, code := apply("--apply", wider, "--dry-run")
		if code != 0 || !strings.Contains(got, wantWider) || !strings.Contains(got, "dry run: nothing was applied") {
			t.Fatalf("exit %d:\n%s", code, got)
		}
		if got := status("https://" + applyHostTwo + "/ok"); !strings.HasPrefix(got, "403") {
			t.Fatalf("dry run changed the policy: %s answered %q", applyHostTwo, got)
		}
	})
	t.Run("widen", func(t *testing.T) {
		got, code := apply("--apply", wider, "--yes")
		if code != 0 || !strings.HasPrefix(got, wantWider) || !strings.Contains(got, "applied to bottle "+slug+": policy generation 1") {
			t.Fatalf("exit %d, want the diff\n%s\ngot:\n%s", code, wantWider, got)
		}
		if got := status("https://" + applyHostTwo + "/ok"); got != "200 200" {
			t.Fatalf("after widening, %s answered %q, want 200", applyHostTwo, got)
		}
		if got := up.authSeen(applyHostTwo); len(got) != 1 || got[0] != "Bearer "+token {
			t.Fatalf("%s was sent Authorization %q, want the new credential once", applyHostTwo, got)
		}
		if got := status("https://" + applyHostTwo + "/other"); got != "200 403" {
			t.Fatalf("after widening, %s/other answered %q, want refused by the proxy", applyHostTwo, got)
		}
		if got := status("https://" + applyHostOne + "/ok"); got != "200 200" {
			t.Fatalf("after widening, %s answered %q, want 200", applyHostOne, got)
		}
	})
	t.Run("no change", func(t *testing.T) {
		if got, code := apply("--apply", wider, "--yes"); code != 0 || strings.TrimSpace(got) != "no change" {
			t.Fatalf("exit %d:\n%s", code, got)
		}
	})
	t.Run("narrow", func(t *testing.T) {
		got, code := apply("--apply", narrow, "--yes")
		want := `- egress two.apply.test: GET prefix "/ok"
- egress two.apply.test: injects $APPLY_TOKEN as Bearer
`
		if code != 0 || !strings.HasPrefix(got, want) || !strings.Contains(got, "policy generation 2") {
			t.Fatalf("exit %d, want the diff\n%s\ngot:\n%s", code, want, got)
		}
		if got := status("https://" + applyHostTwo + "/ok"); !strings.HasPrefix(got, "403") {
			t.Fatalf("after narrowing, %s answered %q, want a refused CONNECT", applyHostTwo, got)
		}
		if got := status("https://" + applyHostOne + "/ok"); got != "200 200" {
			t.Fatalf("after narrowing, %s answered %q, want 200", applyHostOne, got)
		}
	})
	t.Run("not a bottle", func(t *testing.T) {
		got, code := apply("--apply", filepath.Join(w.home, "agents", "applier.md"), "--yes")
		if code == 0 || !strings.Contains(got, "an agent manifest, not a bottle") {
			t.Fatalf("exit %d:\n%s", code, got)
		}
	})
}
