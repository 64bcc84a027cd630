package egress

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// TestRefusalSaysHowToAsk: with AskHint, a refusal a route change could
// lift names request_route's arguments; one it could not (DoH) does not.
func TestRefusalSaysHowToAsk(t *testing.T) {
	e := newEnv(t)
	e.proxy.askHint = true
	c := e.client(false)
	get := func(u string) string {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("GET %s = %d, want 403", u, resp.StatusCode)
		}
		return string(b)
	}
	if body := get("http://other.test/docs/x"); !strings.Contains(body, `request_route`) || !strings.Contains(body, `{"host":"other.test","paths":[{"type":"exact","value":"/docs/x"}],"methods":["GET"]`) {
		t.Errorf("host refusal body lacks the request to make:\n%s", body)
	}
	if body := get("https://api.test/v2/x"); !strings.Contains(body, `"host":"api.test"`) {
		t.Errorf("path refusal body lacks the request to make:\n%s", body)
	}
	if body := get("http://dns.google/dns-query?dns=AAAB"); strings.Contains(body, "request_route") {
		t.Errorf("a DoH refusal offers a route request:\n%s", body)
	}
	// The hint is the agent's to read, not the audit's.
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	for _, ev := range e.events.ev {
		if strings.Contains(ev.Reason, "request_route") {
			t.Errorf("the audit holds the hint: %+v", ev)
		}
	}
}

// TestGrantUses: a request allowed only by an operator's grant is counted
// on it and refused once the grant no longer holds; one the route's own
// matches allow is not counted.
func TestGrantUses(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	uses := map[string]int{}
	e.proxy.grantUse = func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		uses[id]++
		return uses[id] <= 2
	}
	base := e.proxy.Policy()
	pol, err := base.WithGrants([]policy.GrantMatch{
		{ID: "g-new", Host: "other.test", Match: policy.Match{Methods: []string{"GET"}}},
		{ID: "g-wider", Host: "api.test", Match: policy.Match{Paths: []policy.PathMatch{{Type: "exact", Value: "/v2/extra"}}, Methods: []string{"GET"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.proxy.Reload(pol, map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)}); err != nil {
		t.Fatal(err)
	}
	c := e.client(false)
	status := func(u string) int {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, want := range []int{200, 200, 403} {
		if got := status("https://other.test/x"); got != want {
			t.Errorf("GET %d on a two-use grant = %d, want %d", i+1, got, want)
		}
	}
	for range 3 {
		if got := status("https://api.test/v1/own"); got != 200 {
			t.Errorf("GET of the route's own path = %d", got)
		}
	}
	if got := status("https://api.test/v2/extra"); got != 200 {
		t.Errorf("GET of the widened path = %d", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if uses["g-new"] != 3 || uses["g-wider"] != 1 || len(uses) != 2 {
		t.Errorf("uses = %v, want g-new 3 and g-wider 1 (the route's own path uncounted)", uses)
	}
	// Without a counter, a grant allows nothing.
	e.proxy.grantUse = nil
	if got := status("https://api.test/v2/extra"); got != 403 {
		t.Errorf("a grant without a counter = %d, want 403", got)
	}
}
