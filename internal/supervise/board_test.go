package supervise

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

const basePolicy = `{"version":1,"bottle":"b","log":0,"tokens":[{"slot":"EGRESS_TOKEN_1","env":"GH","hosts":["api.example.test"]}],"routes":[
	{"host":"api.example.test","auth":{"scheme":"Bearer","slot":"EGRESS_TOKEN_1"},"matches":[{"paths":[{"type":"prefix","value":"/repos/"}],"methods":["GET"]}],"dlp":{"outbound":[],"inbound":[],"on_match":"block"},"git_fetch":false}]}`

// rig is a board over a policy that Reapply really recomposes, as the
// sidecar does.
type rig struct {
	*Board
	mu      sync.Mutex
	base    *policy.Policy
	cur     *policy.Policy
	clock   sync.Mutex // guards now alone: the board reads it under its lock
	now     time.Time
	records []Record
	fail    error
}

func newRig(t *testing.T) *rig {
	t.Helper()
	base, err := policy.Parse([]byte(basePolicy))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{base: base, cur: base, now: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	r.Board = NewBoard(BoardConfig{
		Bottle:  "b",
		Timeout: time.Minute,
		Policy: func() *policy.Policy {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.cur
		},
		Reapply: func() error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.fail != nil {
				return r.fail
			}
			p, err := r.base.WithGrants(r.Grants())
			if err != nil {
				return err
			}
			r.cur = p
			return nil
		},
		Resolve: func(_ context.Context, host string) []netip.Addr {
			if host == "intranet.example.test" {
				return []netip.Addr{netip.MustParseAddr("10.1.2.3")}
			}
			return []netip.Addr{netip.MustParseAddr("192.0.2.10")}
		},
		Redact: func(s string) string { return strings.ReplaceAll(s, "sekrit-value", "[REDACTED]") },
		Audit: func(rec Record) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.records = append(r.records, rec)
		},
		Now: func() time.Time {
			r.clock.Lock()
			defer r.clock.Unlock()
			return r.now
		},
	})
	return r
}

func (r *rig) advance(d time.Duration) {
	r.clock.Lock()
	r.now = r.now.Add(d)
	r.clock.Unlock()
	r.Expire()
}

func (r *rig) allows(host, method, path string) bool {
	rt, ok := r.Policy().Lookup(host)
	if !ok {
		return false
	}
	ok, id := rt.AllowedBy(method, path, nil)
	if ok && id != "" {
		return r.Use(id)
	}
	return ok
}

func (r *rig) Policy() *policy.Policy { return r.cfg.Policy() }

func (r *rig) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.records {
		out = append(out, rec.Proposal+" "+rec.Event)
	}
	return out
}

func ask(t *testing.T, r *rig, req RouteRequest) Proposal {
	t.Helper()
	p, err := r.RequestRoute(context.Background(), req)
	if err != nil {
		t.Fatalf("RequestRoute(%+v): %v", req, err)
	}
	return p
}

func TestBoardApproveRoute(t *testing.T) {
	r := newRig(t)
	p := ask(t, r, RouteRequest{Host: "New.Example.test", Paths: []PathSpec{{"exact", "/v1/x"}}, Methods: []string{"get"}, Reason: "docs"})
	if p.Status != StatusPending || p.Route.Host != "new.example.test" || len(p.Diff) == 0 {
		t.Fatalf("proposal = %+v", p)
	}
	if r.allows("new.example.test", "GET", "/v1/x") {
		t.Fatal("allowed before the decision")
	}
	done := make(chan Proposal)
	go func() {
		got, err := r.Wait(context.Background(), p.ID, 10*time.Second, nil)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	if _, err := r.Decide(p.ID, Verdict{Approve: true, By: "op@host", Notes: "ok"}); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.Status != StatusApproved || got.Decision.By != "op@host" || got.Decision.Notes != "ok" {
		t.Fatalf("after approval Wait = %+v", got)
	}
	if !r.allows("new.example.test", "GET", "/v1/x") || r.allows("new.example.test", "POST", "/v1/x") || r.allows("new.example.test", "GET", "/v1/y") {
		t.Error("the grant allows other than what was approved")
	}
	if _, err := r.Decide(p.ID, Verdict{Approve: true}); err == nil {
		t.Error("a second decision on the same proposal was accepted")
	}
	if ev := r.events(); len(ev) != 2 || !strings.HasSuffix(ev[0], "proposed") || !strings.HasSuffix(ev[1], "approved") {
		t.Errorf("audit = %v", ev)
	}
}

func TestBoardRejectAndModify(t *testing.T) {
	r := newRig(t)
	p := ask(t, r, RouteRequest{Host: "a.example.test", Methods: []string{"POST"}})
	if _, err := r.Decide(p.ID, Verdict{Approve: false}); err == nil {
		t.Fatal("a rejection without a reason was accepted")
	}
	got, err := r.Decide(p.ID, Verdict{Reason: "not needed"})
	if err != nil || got.Status != StatusRejected || got.Decision.Reason != "not needed" {
		t.Fatalf("reject = %+v, %v", got, err)
	}
	if r.allows("a.example.test", "POST", "/") {
		t.Error("a rejected route is allowed")
	}

	p = ask(t, r, RouteRequest{Host: "b.example.test"})
	got, err = r.Decide(p.ID, Verdict{Approve: true, Route: &RouteRequest{Host: "b.example.test", Paths: []PathSpec{{"prefix", "/api/"}}, Methods: []string{"GET"}}})
	if err != nil || got.Status != StatusModified || len(got.Route.Paths) != 1 {
		t.Fatalf("modify = %+v, %v", got, err)
	}
	if !r.allows("b.example.test", "GET", "/api/x") || r.allows("b.example.test", "GET", "/other") {
		t.Error("the modified grant does not allow what the operator wrote")
	}
	p = ask(t, r, RouteRequest{Host: "c.example.test"})
	if _, err := r.Decide(p.ID, Verdict{Approve: true, Route: &RouteRequest{Host: "c.example.test", Paths: []PathSpec{{"regex", "("}}}}); err == nil {
		t.Error("an invalid modification was accepted")
	}
	if cur := r.Proposals(); cur[len(cur)-1].Status != StatusPending {
		t.Error("an invalid modification decided the proposal")
	}
}

func TestBoardLifetimes(t *testing.T) {
	r := newRig(t)
	p := ask(t, r, RouteRequest{Host: "once.example.test", Methods: []string{"GET"}})
	if _, err := r.Decide(p.ID, Verdict{Approve: true, Lifetime: Lifetime{Once: true}}); err != nil {
		t.Fatal(err)
	}
	if !r.allows("once.example.test", "GET", "/") {
		t.Fatal("a once grant refused its first use")
	}
	if r.allows("once.example.test", "GET", "/") {
		t.Error("a once grant allowed a second use")
	}

	p = ask(t, r, RouteRequest{Host: "three.example.test", Methods: []string{"GET"}})
	if _, err := r.Decide(p.ID, Verdict{Approve: true, Lifetime: Lifetime{Uses: 3}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range 5 {
		if r.allows("three.example.test", "GET", "/") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("a 3-use grant allowed %d requests", n)
	}

	p = ask(t, r, RouteRequest{Host: "ttl.example.test", Methods: []string{"GET"}})
	if _, err := r.Decide(p.ID, Verdict{Approve: true, Lifetime: Lifetime{TTL: 10 * time.Minute}}); err != nil {
		t.Fatal(err)
	}
	r.advance(9 * time.Minute)
	if !r.allows("ttl.example.test", "GET", "/") {
		t.Fatal("a 10-minute grant refused at 9 minutes")
	}
	r.advance(2 * time.Minute)
	if _, ok := r.Policy().Lookup("ttl.example.test"); ok {
		t.Error("an expired grant's route is still in the policy")
	}
	if r.allows("ttl.example.test", "GET", "/") {
		t.Error("an expired grant still allows")
	}
	if g := r.Routes().Grants; len(g) != 0 {
		t.Errorf("grants left: %+v", g)
	}
}

func TestBoardExpiresPending(t *testing.T) {
	r := newRig(t)
	p := ask(t, r, RouteRequest{Host: "slow.example.test", Methods: []string{"GET"}})
	r.advance(2 * time.Minute)
	got, err := r.Wait(context.Background(), p.ID, time.Second, nil)
	if err != nil || got.Status != StatusExpired {
		t.Fatalf("after the timeout Wait = %+v, %v", got, err)
	}
	if _, err := r.Decide(p.ID, Verdict{Approve: true}); err == nil {
		t.Error("an expired proposal was approved")
	}
	if r.allows("slow.example.test", "GET", "/") {
		t.Error("an expired proposal allows")
	}
}

func TestBoardWaitReturnsPending(t *testing.T) {
	r := newRig(t)
	p := ask(t, r, RouteRequest{Host: "w.example.test", Methods: []string{"GET"}})
	got, err := r.Wait(context.Background(), p.ID, 50*time.Millisecond, nil)
	if err != nil || got.Status != StatusPending {
		t.Fatalf("Wait = %+v, %v; want pending", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Wait(ctx, p.ID, time.Minute, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context = %v", err)
	}
	if _, err := r.Wait(context.Background(), "p-nope", time.Second, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wait on an unknown id = %v", err)
	}
}

func TestBoardRefusesRequests(t *testing.T) {
	r := newRig(t)
	for _, req := range []RouteRequest{
		{Host: ""},
		{Host: "10.0.0.1"},
		{Host: "https://x.example.test/"},
		{Host: "x.example.test", Paths: []PathSpec{{"glob", "/x"}}},
		{Host: "x.example.test", Paths: []PathSpec{{"prefix", "no-slash"}}},
		{Host: "x.example.test", Methods: []string{"TRACE"}},
		{Host: "x.example.test", Paths: []PathSpec{{"exact", "/leak/sekrit-value"}}},
		{Host: "bad_host.example.test"},
		// Already allowed by the policy in force.
		{Host: "api.example.test", Paths: []PathSpec{{"prefix", "/repos/"}}, Methods: []string{"GET"}},
	} {
		if p, err := r.RequestRoute(context.Background(), req); err == nil {
			t.Errorf("RequestRoute(%+v) = %+v, want an error", req, p)
		}
	}
	// The limit on pending proposals.
	for i := range MaxPending {
		ask(t, r, RouteRequest{Host: "h" + string(rune('a'+i)) + ".example.test"})
	}
	if _, err := r.RequestRoute(context.Background(), RouteRequest{Host: "one-more.example.test"}); err == nil || !strings.Contains(err.Error(), "already has") {
		t.Errorf("request over the limit: %v", err)
	}
	// An identical pending request is the same proposal.
	a := r.Proposals()[0]
	b, err := r.RequestRoute(context.Background(), RouteRequest{Host: a.Route.Host})
	if err != nil || b.ID != a.ID {
		t.Errorf("a repeated request = %v, %v; want proposal %s", b.ID, err, a.ID)
	}
}

func TestBoardRisksAndRedaction(t *testing.T) {
	r := newRig(t)
	r.NoteRefusal("dlp-outbound", "api.example.test:443")
	p := ask(t, r, RouteRequest{Host: "api.example.test", Paths: []PathSpec{{"prefix", "/"}}, Methods: []string{"GET", "DELETE"}, Reason: "because sekrit-value \x1b[2J"})
	codes := map[string]bool{}
	for _, k := range p.Risks {
		codes[k.Code] = true
	}
	for _, want := range []string{RiskMatchAll, RiskCredentialReach, RiskWriteMethod, RiskDLPRefused} {
		if !codes[want] {
			t.Errorf("risk %s missing from %+v", want, p.Risks)
		}
	}
	if codes[RiskPrivateAddress] {
		t.Error("a public address was flagged private")
	}
	if strings.Contains(p.Reason, "sekrit-value") {
		t.Errorf("the reason keeps a known secret: %q", p.Reason)
	}
	q := ask(t, r, RouteRequest{Host: "intranet.example.test", Paths: []PathSpec{{"exact", "/x"}}, Methods: []string{"GET"}})
	if len(q.Risks) != 1 || q.Risks[0].Code != RiskPrivateAddress {
		t.Errorf("intranet risks = %+v, want private-address alone", q.Risks)
	}
}

func TestBoardReapplyFailureKeepsPending(t *testing.T) {
	r := newRig(t)
	p := ask(t, r, RouteRequest{Host: "f.example.test", Methods: []string{"GET"}})
	r.mu.Lock()
	r.fail = errors.New("boom")
	r.mu.Unlock()
	if _, err := r.Decide(p.ID, Verdict{Approve: true}); err == nil {
		t.Fatal("Decide succeeded though the grant could not be put in force")
	}
	if got := r.Proposals()[0]; got.Status != StatusPending || len(r.Grants()) != 0 {
		t.Errorf("after a failed approval: %+v, grants %v", got.Status, r.Grants())
	}
}

func TestBoardHold(t *testing.T) {
	r := newRig(t)
	hold := Proposal{Kind: KindDLPHold, Summary: "dlp: POST api.example.test /x", Hold: &Hold{Host: "api.example.test", Method: "POST", Path: "/x/sekrit-value"}}
	res := make(chan Decision)
	go func() {
		d, _ := r.Hold(context.Background(), hold)
		res <- d
	}()
	var id string
	for id == "" {
		for _, p := range r.Proposals() {
			id = p.ID
			if strings.Contains(p.Hold.Path, "sekrit-value") {
				t.Errorf("a held request shows a secret: %q", p.Hold.Path)
			}
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := r.Decide(id, Verdict{Approve: true, By: "op"}); err != nil {
		t.Fatal(err)
	}
	if d := <-res; d.Status != StatusApproved {
		t.Errorf("hold = %+v", d)
	}
	// A hold whose caller gives up expires.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	d, _ := r.Hold(ctx, hold)
	if d.Status != StatusExpired {
		t.Errorf("an abandoned hold = %+v", d)
	}
	// Closing the board fails the pending ones closed.
	go func() {
		d, _ := r.Hold(context.Background(), hold)
		res <- d
	}()
	for len(r.Proposals()) < 3 {
		time.Sleep(time.Millisecond)
	}
	r.Close()
	if d := <-res; d.Status != StatusExpired {
		t.Errorf("a hold when the sidecar stops = %+v", d)
	}
	if _, err := r.Hold(context.Background(), hold); err == nil {
		t.Error("a closed board took a hold")
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"192.0.2.10": true, "8.8.8.8": true, "2001:4860::1": true,
		"10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "127.0.0.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "198.19.233.1": false, "0.0.0.0": false, "::1": false, "fe80::1": false, "fd00::1": false,
		"::ffff:10.0.0.1": false, "255.255.255.255": false, "224.0.0.1": false,
	} {
		if got := public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("api.example.test", "prefix", "/v1/", "GET", "a reason")
	f.Add("10.0.0.1", "regex", "(", "TRACE", "")
	f.Fuzz(func(t *testing.T, host, typ, value, method, reason string) {
		r, m, err := Normalize(RouteRequest{Host: host, Paths: []PathSpec{{Type: typ, Value: value}}, Methods: []string{method}, Reason: reason}, nil)
		if err != nil {
			return
		}
		if len(m.Paths) != len(r.Paths) || len(m.Methods) != len(r.Methods) || len(r.Reason) > maxReason+len("…") {
			t.Fatalf("Normalize = %+v, %+v", r, m)
		}
		if again, _, err := Normalize(r, nil); err != nil || !sameRoute(again, r) {
			t.Fatalf("a normalized request does not normalize to itself: %+v -> %+v, %v", r, again, err)
		}
	})
}
