package egress

import (
	"strings"
	"testing"
)

// A quiet host (the agent CLI's telemetry) is refused every time, its
// first refusal recorded and the rest counted into one event at a flush;
// another host's refusals are each recorded.
func TestQuietHostsAreRefusedAndCounted(t *testing.T) {
	doc := strings.Replace(testPolicy, `"tokens":`, `"quiet": ["other.test"], "tokens":`, 1)
	e := newEnvWith(t, doc)
	for range 5 {
		if status, h := rawConnect(t, e, "other.test:443"); status != 403 || h.Get(BlockHeader) != BlockHostNotAllowed {
			t.Fatalf("CONNECT other.test = %d %q, want 403 %s", status, h.Get(BlockHeader), BlockHostNotAllowed)
		}
	}
	for range 3 {
		if status, _ := rawConnect(t, e, "loud.test:443"); status != 403 {
			t.Fatalf("CONNECT loud.test = %d, want 403", status)
		}
	}
	count := func(host string) (n int, reasons []string) {
		e.events.mu.Lock()
		defer e.events.mu.Unlock()
		for _, ev := range e.events.ev {
			if ev.Host == host {
				n++
				reasons = append(reasons, ev.Reason)
			}
		}
		return n, reasons
	}
	if n, reasons := count("other.test"); n != 1 || !strings.Contains(reasons[0], "counted, not recorded one by one") {
		t.Errorf("before a flush, other.test has %d event(s) %q, want the first refusal, saying the rest are counted", n, reasons)
	}
	if n, _ := count("loud.test"); n != 3 {
		t.Errorf("loud.test has %d event(s), want all 3 refusals", n)
	}
	if hits := e.up.Hits(); len(hits) != 0 {
		t.Errorf("refused CONNECTs reached the upstream: %+v", hits)
	}
	e.proxy.FlushQuiet()
	if n, reasons := count("other.test"); n != 2 || !strings.HasPrefix(reasons[1], "4 more refusals of other.test") {
		t.Errorf("after a flush, other.test has %d event(s) %q, want the count of the other 4", n, reasons)
	}
	e.proxy.FlushQuiet() // nothing new: nothing written
	if n, _ := count("other.test"); n != 2 {
		t.Errorf("an empty flush wrote an event: %d", n)
	}
}
