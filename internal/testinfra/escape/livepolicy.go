package escape

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// LiveHost is allowed only once the live policy test widened its bottle's
// policy.
const LiveHost = "live.allowed.test"

// widerPolicy is the suite's policy with LiveHost allowed too.
const widerPolicy = `{"version": 1, "bottle": "escape", "log": 2,
  "routes": [{"host": "` + AllowedHost + `", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"},
    "matches": [{"paths": [{"type": "prefix", "value": "/allowed"}, {"type": "prefix", "value": "/forbidden"}]}],
    "dlp": {"outbound": ["token_patterns", "known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false},
   {"host": "` + LiveHost + `", "dlp": {"outbound": ["known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false}],
  "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "ESCAPE_TOKEN", "hosts": ["` + AllowedHost + `"]}]}`

// narrowPolicy allows LiveHost alone.
const narrowPolicy = `{"version": 1, "bottle": "escape", "log": 2,
  "routes": [{"host": "` + LiveHost + `", "dlp": {"outbound": ["known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false}],
  "tokens": []}`

// RunLivePolicy replaces a running bottle's policy through the control
// channel and checks that egress, DNS and the git gate apply it at once
// while a connection opened before stays up, and that the credential
// follows its host variable, not its slot.
func RunLivePolicy(t *testing.T, h *Harness) {
	slug := "live-" + time.Now().Format("150405.000")
	slug = strings.ReplaceAll(slug, ".", "")
	repo := h.startLiveRepo(t)
	spec := h.Spec(t, slug)
	spec.Resolve[LiveHost] = h.Internet.Upstream + ":443"
	t.Cleanup(func() { _ = h.Backend.Stop(context.Background(), slug) })
	if err := h.Backend.Start(context.Background(), spec, nil); err != nil {
		t.Fatalf("starting bottle %s: %v", slug, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := control.NewClient(func(ctx context.Context) (net.Conn, error) { return h.Backend.DialControl(ctx, slug) }, secret.New(ControlToken))
	defer c.Close()
	// replace puts doc in force, with the live repository in its git
	// gate when withRepo is set.
	replace := func(doc string, withRepo bool) {
		t.Helper()
		pol, err := policy.Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		var keys map[string]secret.Value
		if withRepo {
			pol, keys = repo.gate(pol)
		}
		if _, err := c.Replace(ctx, pol, keys); err != nil {
			t.Fatalf("replacing the policy: %v", err)
		}
		got, err := c.Policy(ctx)
		if err != nil || len(got.Routes) != len(pol.Routes) {
			t.Fatalf("policy after the replace = %+v, %v", got, err)
		}
	}
	status := func(url string) string {
		t.Helper()
		out, _ := h.sh(t, slug, "curl -sS --max-time 10 -o /dev/null -w '%{http_connect} %{http_code}' "+url+" 2>/dev/null")
		return strings.TrimSpace(out)
	}
	if got := status("https://" + LiveHost + "/allowed/before"); !strings.HasPrefix(got, "403") {
		t.Fatalf("before the replace, %s answered %q, want a refused CONNECT", LiveHost, got)
	}
	// The gate refuses the repository the policy does not hold yet, and
	// the git server is the sidecar's to reach, not the bottle's.
	if out, code := h.sh(t, slug, pushScript("agent/before", true)); code == 0 || !strings.Contains(out, `no repository "`+liveRepoName+`"`) || repo.has("agent/before") {
		t.Fatalf("before the replace, a push to %s: exit %d, want refused by the gate:\n%s", liveRepoName, code, out)
	}
	if out, code := h.sh(t, slug, "bb-probe tcp "+repo.srv.Addr); code == 0 {
		t.Errorf("the bottle reached the git server directly: %s", out)
	}
	// One connection, two requests ten seconds apart: the replace happens
	// in between.
	held := &backendtest.SyncBuffer{}
	heldDone := make(chan error, 1)
	go func() {
		_, err := h.Backend.Exec(ctx, slug, backend.Exec{
			Cmd:   []string{"curl", "-sS", "--rate", "6/m", "-w", "%{http_code} %{num_connects}\n", "-o", "/dev/null", "https://" + AllowedHost + "/allowed/one", "-o", "/dev/null", "https://" + AllowedHost + "/allowed/two"},
			Stdio: backend.Stdio{Stdout: held, Stderr: held},
		})
		heldDone <- err
	}()
	waitLines := func(n int) string {
		t.Helper()
		for range 300 {
			if out := held.String(); strings.Count(out, "\n") >= n {
				return out
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the held connection did not answer %d time(s): %q", n, held.String())
		return ""
	}
	if out := waitLines(1); !strings.HasPrefix(out, "200 1") {
		t.Fatalf("first request on the held connection: %q", out)
	}
	replace(widerPolicy, true)
	if got := status("https://" + LiveHost + "/allowed/after"); got != "200 200" {
		t.Errorf("after the replace, %s answered %q, want 200", LiveHost, got)
	}
	if h.Resolver {
		if out, code := h.sh(t, slug, "bb-probe dns "+LiveHost+" A"); code != 0 {
			t.Errorf("after the replace, DNS of %s: %s", LiveHost, out)
		}
	}
	if out, code := h.sh(t, slug, pushScript("agent/live", false)); code != 0 || !repo.has("agent/live") {
		t.Errorf("after the replace, a push to %s through the gate: exit %d, upstream has it %v:\n%s", liveRepoName, code, repo.has("agent/live"), out)
	}
	out := waitLines(2)
	if err := <-heldDone; err != nil {
		t.Fatalf("the held connection's curl: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[len(lines)-1] != "200 0" {
		t.Errorf("the connection opened before the replace did not carry the next request (want 200 on no new connection): %q", out)
	}
	if got := httpsHits(t, h, "/allowed/two"); len(got) != 1 || got[0].Headers.Get("Authorization") != "Bearer "+Token {
		t.Errorf("the credential did not follow its host variable across the replace: %+v", got)
	}
	replace(narrowPolicy, false)
	if got := status("https://" + AllowedHost + "/allowed/removed"); !strings.HasPrefix(got, "403") {
		t.Errorf("after narrowing, %s answered %q, want a refused CONNECT", AllowedHost, got)
	}
	if h.Resolver {
		if out, code := h.sh(t, slug, "bb-probe dns "+AllowedHost+" A"); code == 0 {
			t.Errorf("after narrowing, DNS still answers %s: %s", AllowedHost, out)
		}
	}
	if out, code := h.sh(t, slug, pushScript("agent/removed", false)); code == 0 || !strings.Contains(out, `no repository "`+liveRepoName+`"`) || repo.has("agent/removed") {
		t.Errorf("after narrowing, a push to %s: exit %d, want refused by the gate:\n%s", liveRepoName, code, out)
	}
}
