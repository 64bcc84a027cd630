package upstream_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// pauseBeforeClose makes every request wait between its last write and
// the close of stdin, long enough for git upload-pack or receive-pack,
// which exit once they have what they need, to close the channel first:
// the race the issue found about once in 1,500 fetches, every time.
func pauseBeforeClose(t *testing.T) {
	t.Helper()
	upstream.SetTestHookBeforeClose(func() { time.Sleep(200 * time.Millisecond) })
	t.Cleanup(func() { upstream.SetTestHookBeforeClose(nil) })
}

// An up-to-date fetch whose upstream exits before the gate closes its
// side succeeds: the answer is what the upstream said.
func TestFetchUpstreamExitsBeforeTheClose(t *testing.T) {
	f := newFixture(t)
	gittest.Commit(t, f.bare, "main", "one", map[string]string{"README": "one\n"})
	f.fetch(t)
	pauseBeforeClose(t)
	f.fetch(t) // up to date: the session ends with a lone flush
	gittest.Commit(t, f.bare, "main", "two", map[string]string{"README": "two\n"})
	f.fetch(t)
	if diff := cmp.Diff(refs(t, f.bare), refs(t, f.mirror)); diff != "" {
		t.Errorf("mirror refs (-upstream +mirror):\n%s", diff)
	}
}

// A push the upstream applied is reported applied, however its
// receive-pack's exit and the gate's close are ordered; one with nothing
// to send likewise.
func TestPushUpstreamExitsBeforeTheClose(t *testing.T) {
	f, base := seeded(t)
	next := f.work(t, "main", "next")
	pauseBeforeClose(t)
	res, progress := f.push(t, nil, update("refs/heads/main", base, next, false))
	wantAccepted(t, res)
	if got := refs(t, f.bare)["refs/heads/main"]; got != next {
		t.Fatalf("upstream main = %q, want %s\n%s", got, next, progress)
	}
	// Nothing to send: the upstream has the ref already.
	res, progress = f.push(t, nil, update("refs/heads/main", next, next, false))
	if len(res) != 1 || res[0] != nil {
		t.Fatalf("a push of what the upstream has = %v\n%s", res, progress)
	}
}
