package lifecycle_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/registry"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/lifecycle"
)

// endedState writes the state folder of an ended bottle, last written
// age ago.
func endedState(t *testing.T, m *lifecycle.Manager, slug, backendName string, age time.Duration, keys bool) {
	t.Helper()
	dir := launch.StateDir(m.Home, slug)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rec := launch.Record{Slug: slug, Backend: backendName, Cwd: "/work", CreatedAt: time.Now().Add(-age - time.Hour).UTC()}
	if keys {
		rec.DeployKeys = []launch.DeployKey{{Repo: "r", API: "http://127.0.0.1:1/api/v1", Owner: "o", Name: "n", ID: 7, TokenEnv: "NO_SUCH_TOKEN"}}
	}
	if err := launch.WriteRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(audit, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	for _, f := range []string{audit, filepath.Join(dir, "bottle.json")} {
		if err := os.Chtimes(f, when, when); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCleanupExpiresEndedState: cleanup removes the state of ended
// bottles untouched for the retention, and never a listed bottle's, one
// whose keys are left, a recent one, or one of a backend that cannot list.
func TestCleanupExpiresEndedState(t *testing.T) {
	m, fb := newManager(t)
	ctx := context.Background()
	day := 24 * time.Hour
	endedState(t, m, "old-00001", "fake", 40*day, false)
	endedState(t, m, "new-00001", "fake", 2*day, false)
	endedState(t, m, "keys-00001", "fake", 40*day, true)
	endedState(t, m, "gone-00001", "nosuchbackend", 40*day, false)
	startFake(t, m, fb, "live-00001", os.Getpid())
	live := launch.StateDir(m.Home, "live-00001")
	old := time.Now().Add(-40 * day)
	if err := os.Chtimes(filepath.Join(live, "bottle.json"), old, old); err != nil {
		t.Fatal(err)
	}

	expired := func(keep time.Duration) []string {
		p, _ := m.PlanCleanup(ctx, keep)
		var slugs []string
		for _, f := range p.Expired {
			slugs = append(slugs, f.Record.Slug)
		}
		slices.Sort(slugs)
		return slugs
	}
	// A backend that is not registered lists nothing: its state is
	// expired like the others (a failing one's would be kept).
	if diff := cmp.Diff([]string{"gone-00001", "old-00001"}, expired(lifecycle.DefaultKeepState)); diff != "" {
		t.Errorf("expired at 30 days (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"gone-00001", "new-00001", "old-00001"}, expired(day)); diff != "" {
		t.Errorf("expired at 1 day (-want +got):\n%s", diff)
	}
	if got := expired(-1); got != nil {
		t.Errorf("expired with a negative retention = %v, want none", got)
	}

	p, _ := m.PlanCleanup(ctx, lifecycle.DefaultKeepState)
	// Written since the plan: a resume is using it.
	endedState(t, m, "gone-00001", "nosuchbackend", 0, false)
	var done []string
	if err := m.Cleanup(ctx, p, func(s string) { done = append(done, s) }); err == nil {
		t.Error("cleanup removed a state folder written since its plan")
	}
	if diff := cmp.Diff([]string{"removed the state of old-00001"}, done); diff != "" {
		t.Errorf("done (-want +got):\n%s", diff)
	}
	for slug, want := range map[string]bool{"old-00001": false, "gone-00001": true, "new-00001": true, "keys-00001": true, "live-00001": true} {
		if _, err := os.Stat(launch.StateDir(m.Home, slug)); (err == nil) != want {
			t.Errorf("state of %s exists: %v, want %v", slug, err == nil, want)
		}
	}
}

// TestCleanupKeepsStateOfUnlistedBackends: when a backend cannot list,
// its bottles may be running: their state stays.
func TestCleanupKeepsStateOfUnlistedBackends(t *testing.T) {
	m := &lifecycle.Manager{
		Home: t.TempDir(),
		Backends: registry.New(registry.Entry{Name: "broken", New: func(registry.Config) (backend.Backend, error) {
			return nil, errors.New("daemon not reachable")
		}}),
	}
	endedState(t, m, "old-00002", "broken", 40*24*time.Hour, false)
	p, errs := m.PlanCleanup(context.Background(), lifecycle.DefaultKeepState)
	if len(errs) != 1 || len(p.Expired) != 0 {
		t.Fatalf("plan with a backend that cannot list: expired %+v, errors %v; want none and one error", p.Expired, errs)
	}
}
