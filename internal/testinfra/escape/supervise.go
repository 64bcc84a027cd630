package escape

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// superviseTimeout is the suite's bottle's supervise timeout: short, so
// that the timeout case ends in seconds.
const superviseTimeout = 20 * time.Second

// grantedPaths are the LiveHost paths the supervise case's grants allow
// (at their lifetimes); a hit on any other path of LiveHost but
// /allowed/ is forbidden.
var grantedPaths = []string{"/second/", "/fourth/", "/uses/", "/ttl/"}

// superviseRig is a bottle of the supervise cases and the operator's
// channel to it.
type superviseRig struct {
	t    *testing.T
	h    *Harness
	slug string
	c    *control.Client
	ctx  context.Context
}

// call calls an MCP tool from inside the bottle, as the agent would.
func (r *superviseRig) call(tool string, args any) (string, int) {
	r.t.Helper()
	a, err := json.Marshal(args)
	if err != nil {
		r.t.Fatal(err)
	}
	if strings.Contains(string(a), "'") {
		r.t.Fatalf("arguments %s hold a quote", a)
	}
	return r.h.sh(r.t, r.slug, fmt.Sprintf(`bb-probe mcp "$BOT_BOTTLE_MCP_URL" %s '%s'`, tool, a))
}

// callAsync starts an MCP call in the bottle and returns what it printed
// once it ends.
func (r *superviseRig) callAsync(tool string, args any) <-chan string {
	a, err := json.Marshal(args)
	if err != nil {
		r.t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		out := &backendtest.SyncBuffer{}
		script := fmt.Sprintf(`%s mcp "$BOT_BOTTLE_MCP_URL" %s '%s'; echo " exit=$?"`, r.h.probePath(), tool, a)
		_, err := r.h.Backend.Exec(r.ctx, r.slug, backend.Exec{Cmd: []string{"bash", "-c", script}, Stdio: backend.Stdio{Stdout: out, Stderr: out}})
		if err != nil {
			fmt.Fprintf(out, "exec: %v", err)
		}
		done <- out.String()
	}()
	return done
}

// shAsync starts a script in the bottle and returns what it printed,
// with its exit status, once it ends.
func (r *superviseRig) shAsync(script string) <-chan string {
	done := make(chan string, 1)
	go func() {
		out := &backendtest.SyncBuffer{}
		_, err := r.h.Backend.Exec(r.ctx, r.slug, backend.Exec{Cmd: []string{"bash", "-c", script + `; echo " exit=$?"`}, Stdio: backend.Stdio{Stdout: out, Stderr: out}})
		if err != nil {
			fmt.Fprintf(out, "exec: %v", err)
		}
		done <- out.String()
	}()
	return done
}

// pending waits for the bottle's one pending proposal whose summary
// contains contains.
func (r *superviseRig) pending(contains string) supervise.Proposal {
	r.t.Helper()
	return r.pendingFor(contains, nil)
}

// pendingFor is pending while the command done reports on runs: a command
// that ends before its proposal appears fails the test with its output.
func (r *superviseRig) pendingFor(contains string, done <-chan string) supervise.Proposal {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ps, err := r.c.Proposals(r.ctx)
		if err != nil {
			r.t.Fatalf("listing the proposals: %v", err)
		}
		for _, p := range ps {
			if p.Status == supervise.StatusPending && strings.Contains(p.Summary, contains) {
				return p
			}
		}
		select {
		case out := <-done:
			r.t.Fatalf("no pending proposal for %q: the command ended first:\n%s", contains, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.t.Fatalf("no pending proposal for %q", contains)
	return supervise.Proposal{}
}

func (r *superviseRig) decide(id string, v supervise.Verdict) supervise.Proposal {
	r.t.Helper()
	p, err := r.c.Decide(r.ctx, id, v)
	if err != nil {
		r.t.Fatalf("deciding %s: %v", id, err)
	}
	return p
}

// status is the HTTP status a GET (or method) of url gets from the bottle.
func (r *superviseRig) status(method, url string) string {
	r.t.Helper()
	out, _ := r.h.sh(r.t, r.slug, "curl -sS --max-time 10 -o /dev/null -w '%{http_connect} %{http_code}' -X "+method+" "+url+" 2>/dev/null")
	return strings.TrimSpace(out)
}

func route(path string) map[string]any {
	return map[string]any{"host": LiveHost, "paths": []map[string]string{{"type": "prefix", "value": path}}, "methods": []string{"GET"}, "reason": "the suite needs " + path}
}

func waitOut(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case out := <-c:
		return out
	case <-time.After(3 * time.Minute):
		t.Fatal("the MCP call in the bottle did not return")
		return ""
	}
}

// RunSupervise checks that an agent in a real bottle learns from a refusal how to
// ask, asks over MCP, and after the operator's decision on the control
// channel uses the route at once, without a restart; every decision and
// lifetime behaves, and a denial or timeout leaves the bottle as it was.
func RunSupervise(t *testing.T, h *Harness) {
	slug := strings.ReplaceAll("sup-"+time.Now().Format("150405.000"), ".", "")
	spec := h.Spec(t, slug)
	spec.Resolve[LiveHost] = h.Internet.Upstream + ":443"
	spec.SuperviseTimeout = superviseTimeout
	t.Cleanup(func() { _ = h.Backend.Stop(context.Background(), slug) })
	if err := h.Backend.Start(context.Background(), spec, nil); err != nil {
		t.Fatalf("starting bottle %s: %v", slug, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := control.NewClient(func(ctx context.Context) (net.Conn, error) { return h.Backend.DialControl(ctx, slug) }, secret.New(ControlToken))
	defer c.Close()
	r := &superviseRig{t: t, h: h, slug: slug, c: c, ctx: ctx}
	before, err := c.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a refusal says how to ask", func(t *testing.T) {
		out, _ := h.sh(t, slug, "curl -sS --max-time 10 http://"+LiveHost+"/allowed/x")
		if !strings.Contains(out, "request_route") || !strings.Contains(out, `"host":"`+LiveHost+`"`) {
			t.Errorf("the refusal does not name request_route's arguments:\n%s", out)
		}
		out, code := r.call("recent_blocks", map[string]any{})
		if code != 0 || !strings.Contains(out, `"request_route":{"host":"`+LiveHost+`"`) {
			t.Errorf("recent_blocks (exit %d) does not offer the request for %s:\n%s", code, LiveHost, out)
		}
	})

	t.Run("approved inside the first wait, then used without a restart", func(t *testing.T) {
		done := r.callAsync("request_route", route("/allowed/"))
		p := r.pending("/allowed/")
		codes := map[string]bool{}
		for _, k := range p.Risks {
			codes[k.Code] = true
		}
		// The live host is pinned to a test address on this machine.
		if !codes[supervise.RiskPrivateAddress] {
			t.Errorf("risks %+v lack %s for a host pinned to a local address", p.Risks, supervise.RiskPrivateAddress)
		}
		if len(p.Diff) == 0 {
			t.Error("the proposal shows no authority diff")
		}
		r.decide(p.ID, supervise.Verdict{Approve: true, By: "escape-suite", Notes: "go ahead"})
		if out := waitOut(t, done); !strings.Contains(out, `"status":"approved"`) || !strings.Contains(out, "go ahead") || !strings.Contains(out, "exit=0") {
			t.Fatalf("request_route after the approval:\n%s", out)
		}
		if got := r.status("GET", "https://"+LiveHost+"/allowed/after"); got != "200 200" {
			t.Errorf("GET of the granted route: %q, want 200", got)
		}
		if got := r.status("POST", "https://"+LiveHost+"/allowed/after"); got != "200 403" {
			t.Errorf("POST on a GET grant: %q, want 403", got)
		}
		if got := r.status("GET", "https://"+LiveHost+"/forbidden/x"); got != "200 403" {
			t.Errorf("GET outside the granted paths: %q, want 403", got)
		}
		out, _ := r.call("list_routes", map[string]any{})
		if !strings.Contains(out, p.ID) || strings.Contains(out, Token) {
			t.Errorf("list_routes does not list grant %s (or shows the credential):\n%s", p.ID, out)
		}
	})

	t.Run("pending, then wait_for_decision", func(t *testing.T) {
		args := route("/second/")
		args["wait_seconds"] = 1
		out, code := r.call("request_route", args)
		if code != 0 || !strings.Contains(out, `"status":"pending"`) {
			t.Fatalf("request_route with a one-second wait (exit %d):\n%s", code, out)
		}
		p := r.pending("/second/")
		if !strings.Contains(out, p.ID) {
			t.Fatalf("the pending answer does not name proposal %s:\n%s", p.ID, out)
		}
		done := r.callAsync("wait_for_decision", map[string]any{"id": p.ID})
		time.Sleep(500 * time.Millisecond)
		r.decide(p.ID, supervise.Verdict{Approve: true, By: "escape-suite"})
		if out := waitOut(t, done); !strings.Contains(out, `"status":"approved"`) {
			t.Fatalf("wait_for_decision after the approval:\n%s", out)
		}
		if got := r.status("GET", "https://"+LiveHost+"/second/x"); got != "200 200" {
			t.Errorf("GET of the route approved after pending: %q", got)
		}
	})

	t.Run("rejected, the bottle unchanged", func(t *testing.T) {
		done := r.callAsync("request_route", route("/third/"))
		p := r.pending("/third/")
		r.decide(p.ID, supervise.Verdict{Reason: "not for this task", By: "escape-suite"})
		if out := waitOut(t, done); !strings.Contains(out, `"status":"rejected"`) || !strings.Contains(out, "not for this task") {
			t.Fatalf("request_route after the rejection:\n%s", out)
		}
		if got := r.status("GET", "https://"+LiveHost+"/third/x"); got != "200 403" {
			t.Errorf("GET of a rejected route: %q, want 403", got)
		}
	})

	t.Run("modified by the operator", func(t *testing.T) {
		args := map[string]any{"host": LiveHost, "methods": []string{"GET"}, "reason": "everything please"}
		done := r.callAsync("request_route", args)
		p := r.pending("any path")
		got := r.decide(p.ID, supervise.Verdict{Approve: true, By: "escape-suite", Route: &supervise.RouteRequest{Host: LiveHost, Paths: []supervise.PathSpec{{Type: "prefix", Value: "/fourth/"}}, Methods: []string{"GET"}}})
		if got.Status != supervise.StatusModified {
			t.Errorf("modify: status %s", got.Status)
		}
		if out := waitOut(t, done); !strings.Contains(out, `"status":"modified"`) || !strings.Contains(out, "/fourth/") {
			t.Fatalf("request_route after the modification:\n%s", out)
		}
		if got := r.status("GET", "https://"+LiveHost+"/fourth/a"); got != "200 200" {
			t.Errorf("GET in the modified route: %q", got)
		}
		if got := r.status("GET", "https://"+LiveHost+"/fifth/a"); got != "200 403" {
			t.Errorf("GET outside the modified route: %q, want 403", got)
		}
	})

	t.Run("a use-count grant", func(t *testing.T) {
		done := r.callAsync("request_route", route("/uses/"))
		p := r.pending("/uses/")
		r.decide(p.ID, supervise.Verdict{Approve: true, By: "escape-suite", Lifetime: supervise.Lifetime{Uses: 2}})
		waitOut(t, done)
		var got []string
		for range 3 {
			got = append(got, r.status("GET", "https://"+LiveHost+"/uses/x"))
		}
		if got[0] != "200 200" || got[1] != "200 200" || got[2] != "200 403" {
			t.Errorf("three GETs on a two-use grant: %q", got)
		}
	})

	t.Run("a grant's time runs out", func(t *testing.T) {
		done := r.callAsync("request_route", route("/ttl/"))
		p := r.pending("/ttl/")
		r.decide(p.ID, supervise.Verdict{Approve: true, By: "escape-suite", Lifetime: supervise.Lifetime{TTL: 3 * time.Second}})
		waitOut(t, done)
		if got := r.status("GET", "https://"+LiveHost+"/ttl/x"); got != "200 200" {
			t.Errorf("GET inside the TTL: %q", got)
		}
		time.Sleep(4 * time.Second)
		if got := r.status("GET", "https://"+LiveHost+"/ttl/x"); got != "200 403" {
			t.Errorf("GET after the TTL: %q, want 403", got)
		}
	})

	t.Run("nothing in the bottle decides", func(t *testing.T) {
		args := route("/self/")
		args["wait_seconds"] = 1
		r.call("request_route", args)
		p := r.pending("/self/")
		for _, tool := range []string{"approve", "decide", "supervise_approve"} {
			if out, code := r.call(tool, map[string]any{"id": p.ID}); code == 0 {
				t.Errorf("tool %s answered: %s", tool, out)
			}
		}
		// The proxy port serves the agent's endpoints, not the host's.
		for _, u := range []string{"http://_egress.local/v1/proposals", "$BOT_BOTTLE_PROXY/v1/proposals"} {
			out, _ := h.sh(t, slug, "curl -sS --max-time 5 -X POST -d '{\"approve\":true}' "+u+"/"+p.ID)
			if strings.Contains(out, `"status"`) {
				t.Errorf("POST %s from the bottle answered like the control channel: %s", u, out)
			}
		}
		ps, _ := c.Proposals(ctx)
		for _, q := range ps {
			if q.ID == p.ID && q.Status != supervise.StatusPending {
				t.Fatalf("the bottle decided its own proposal: %+v", q)
			}
		}
		r.decide(p.ID, supervise.Verdict{Reason: "cleanup", By: "escape-suite"})
	})

	t.Run("at most a few pending", func(t *testing.T) {
		for i := range supervise.MaxPending {
			args := route(fmt.Sprintf("/flood%d/", i))
			args["wait_seconds"] = 1
			if out, code := r.call("request_route", args); code != 0 {
				t.Fatalf("request %d: %s", i, out)
			}
		}
		args := route("/flood-over/")
		args["wait_seconds"] = 1
		if out, code := r.call("request_route", args); code == 0 || !strings.Contains(out, "already has") {
			t.Errorf("a request over the limit (exit %d): %s", code, out)
		}
		ps, _ := c.Proposals(ctx)
		for _, p := range ps {
			if p.Status == supervise.StatusPending {
				r.decide(p.ID, supervise.Verdict{Reason: "flood", By: "escape-suite"})
			}
		}
	})

	t.Run("a proposal nobody decides expires, refused", func(t *testing.T) {
		start := time.Now()
		out := waitOut(t, r.callAsync("request_route", route("/late/")))
		if !strings.Contains(out, `"status":"expired"`) {
			t.Fatalf("request_route that nobody decided:\n%s", out)
		}
		if waited := time.Since(start); waited > superviseTimeout+15*time.Second {
			t.Errorf("the expiry came after %v, the timeout is %v", waited, superviseTimeout)
		}
		if got := r.status("GET", "https://"+LiveHost+"/late/x"); got != "200 403" {
			t.Errorf("GET of an expired proposal's route: %q, want 403", got)
		}
	})

	t.Run("a denial leaves the policy as it was", func(t *testing.T) {
		// Only approved grants changed the policy; once they are gone
		// (the use-count and TTL ones are), the routes of start remain,
		// plus the bottle-life grants.
		after, err := c.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(after.Tokens) != len(before.Tokens) {
			t.Errorf("tokens changed: %d -> %d", len(before.Tokens), len(after.Tokens))
		}
		rt, ok := after.Lookup(LiveHost)
		if !ok {
			t.Fatal("the approved bottle-life grants are gone")
		}
		for _, m := range rt.Matches {
			for _, p := range m.Paths {
				switch p.Value {
				case "/third/", "/late/", "/self/", "/uses/", "/ttl/":
					t.Errorf("a denied, expired or used-up route is in force: %s", p.Value)
				}
			}
		}
	})

	t.Run("held requests and pushes", func(t *testing.T) { r.runHolds(t) })
}

// holdPolicy is the suite's policy with LiveHost's token-pattern matches
// sent to the operator.
const holdPolicy = `{"version": 1, "bottle": "escape", "log": 2,
  "routes": [{"host": "` + AllowedHost + `", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"},
    "matches": [{"paths": [{"type": "prefix", "value": "/allowed"}, {"type": "prefix", "value": "/forbidden"}]}],
    "dlp": {"outbound": ["token_patterns", "known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false},
   {"host": "` + LiveHost + `", "matches": [{"paths": [{"type": "prefix", "value": "/allowed/"}]}],
    "dlp": {"outbound": ["token_patterns", "known_secrets"], "inbound": [], "on_match": "supervise"}, "git_fetch": false}],
  "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "ESCAPE_TOKEN", "hosts": ["` + AllowedHost + `"]}]}`

// A token shape outbound DLP knows and an AWS key shape gitleaks knows,
// split so that no scanner flags this file.
const (
	heldToken = "ghp_" + "Zx81QmT0pLr5VwY2bN7cK4dH9sJ6fG3aE1uR"
	markedKey = "AKIA" + "QYLPMN5HHHFPZAM2"
)

// runHolds: a request DLP held is released once and refused once; a push
// whose only finding is marked gitleaks:allow lands when approved and
// leaves the upstream unchanged when rejected.
func (r *superviseRig) runHolds(t *testing.T) {
	rig := *r
	rig.t = t // Its failures are this subtest's.
	r = &rig
	repo := r.h.startLiveRepo(t)
	pol, err := policy.Parse([]byte(holdPolicy))
	if err != nil {
		t.Fatal(err)
	}
	pol, keys := repo.gate(pol)
	if _, err := r.c.Replace(r.ctx, pol, keys); err != nil {
		t.Fatalf("replacing the policy: %v", err)
	}
	post := "curl -sS --max-time 120 -o /dev/null -w '%{http_code}' -X POST --data 'token=" + heldToken + "' https://" + LiveHost + "/allowed/hold"

	done := r.shAsync(post)
	p := r.pendingFor("dlp-hold", done)
	if raw, _ := json.Marshal(p); strings.Contains(string(raw), heldToken[4:]) {
		t.Fatalf("the dlp-hold proposal shows the token: %s", raw)
	}
	r.decide(p.ID, supervise.Verdict{Approve: true, By: "escape-suite"})
	if out := waitOut(t, done); !strings.HasPrefix(strings.TrimSpace(out), "200") {
		t.Errorf("the released request: %s", out)
	}
	done = r.shAsync(post)
	p = r.pendingFor("dlp-hold", done)
	r.decide(p.ID, supervise.Verdict{Reason: "a token", By: "escape-suite"})
	if out := waitOut(t, done); !strings.HasPrefix(strings.TrimSpace(out), "403") {
		t.Errorf("the rejected request: %s", out)
	}

	url := "http://" + gitgate.Host + "/" + liveRepoName + ".git"
	git := "git -c user.name=agent -c user.email=agent@example.invalid "
	push := func(branch string) string {
		return "set -e; d=$(mktemp -d); cd \"$d\"; git clone -q " + url + " app && cd app; echo 'KEY = \"" + markedKey + "\"  # gitleaks:allow fixture for the suite' > app.py; " +
			git + "add app.py; " + git + "commit -q -m " + branch + "; " + git + "push " + url + " HEAD:refs/heads/" + branch + " 2>&1"
	}
	done = r.shAsync(push("agent/marked-ok"))
	p = r.pendingFor("gitleaks-allow", done)
	if p.Push == nil || len(p.Push.Findings) != 1 || p.Push.Findings[0].Reason != "fixture for the suite" {
		t.Errorf("the gitleaks-allow proposal = %+v", p.Push)
	}
	if raw, _ := json.Marshal(p); strings.Contains(string(raw), markedKey) {
		t.Fatalf("the gitleaks-allow proposal shows the key: %s", raw)
	}
	r.decide(p.ID, supervise.Verdict{Approve: true, By: "escape-suite"})
	if out := waitOut(t, done); !strings.Contains(out, "exit=0") || !repo.has("agent/marked-ok") {
		t.Errorf("the approved push did not land:\n%s", out)
	}
	done = r.shAsync(push("agent/marked-no"))
	p = r.pendingFor("gitleaks-allow", done)
	r.decide(p.ID, supervise.Verdict{Reason: "not this key", By: "escape-suite"})
	if out := waitOut(t, done); strings.Contains(out, "exit=0") || !strings.Contains(out, "not this key") || repo.has("agent/marked-no") {
		t.Errorf("the rejected push:\n%s", out)
	}
}
