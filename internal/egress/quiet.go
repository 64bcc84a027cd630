package egress

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// quietLog counts the refusals of the policy's quiet hosts (the agent
// CLI's telemetry and model-list calls): the first of each host is
// recorded like any refusal, the rest are counted, and Flush writes the
// counts as one event per host.
type quietLog struct {
	mu sync.Mutex
	// n counts each quiet host's refusals since its first, which was
	// recorded; since is when the count started.
	n     map[string]int64
	since map[string]time.Time
}

// refused notes a refusal of the quiet host and reports whether it is
// the host's first, to be recorded in full.
func (q *quietLog) refused(host string) (first bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == nil {
		q.n, q.since = map[string]int64{}, map[string]time.Time{}
	}
	if _, seen := q.since[host]; !seen {
		q.since[host] = time.Now()
		return true
	}
	q.n[host]++
	return false
}

// take returns the counts and resets them.
func (q *quietLog) take() (map[string]int64, map[string]time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, since := q.n, maps.Clone(q.since)
	q.n = map[string]int64{}
	for h := range since {
		q.since[h] = time.Now()
	}
	return n, since
}

// quietReason is appended to the first refusal of a quiet host.
const quietReason = "; it is a host the agent CLI calls for itself (telemetry, experiments, model lists), so its further refusals are counted, not recorded one by one"

// FlushQuiet writes one audit event per quiet host refused since the last
// flush beyond its first refusal, with the count: the sidecar calls it as
// it stops.
func (p *Proxy) FlushQuiet() {
	n, since := p.quiet.take()
	for _, h := range slices.Sorted(maps.Keys(n)) {
		if n[h] == 0 {
			continue
		}
		ev := Event{Time: since[h].UTC(), Method: "CONNECT", Host: h, Decision: "block", Rule: BlockHostNotAllowed,
			Reason: fmt.Sprintf("%d more refusals of %s since %s, counted (a host the agent CLI calls for itself)", n[h], h, since[h].UTC().Format(time.RFC3339))}
		ev.Status = 403
		if p.audit != nil {
			p.audit.Record(ev)
		}
	}
}
