package lifecycle_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/registry"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/lifecycle"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakebackend"
)

func TestOrphaned(t *testing.T) {
	live, dead := os.Getpid(), deadPID(t)
	for _, tc := range []struct {
		name string
		in   backend.Instance
		want bool
	}{
		{"foreground, owner lives", backend.Instance{OwnerPID: live, State: backend.StatePartial}, false},
		{"foreground, owner gone", backend.Instance{OwnerPID: dead, State: backend.StateRunning}, true},
		{"detached running, starter gone", backend.Instance{Detached: true, OwnerPID: dead, State: backend.StateRunning}, false},
		{"detached partial, starter still starting it", backend.Instance{Detached: true, OwnerPID: live, State: backend.StatePartial}, false},
		{"detached partial, starter gone", backend.Instance{Detached: true, OwnerPID: dead, State: backend.StatePartial}, true},
		{"detached stopped, no starter recorded", backend.Instance{Detached: true, State: backend.StateStopped}, true},
		{"no owner recorded, running", backend.Instance{State: backend.StateRunning}, false},
		{"no owner recorded, stopped", backend.Instance{State: backend.StateStopped}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lifecycle.Orphaned(tc.in); got != tc.want {
				t.Errorf("Orphaned(%+v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func newManager(t *testing.T) (*lifecycle.Manager, *fakebackend.Backend) {
	t.Helper()
	fb := fakebackend.New("fake")
	return &lifecycle.Manager{
		Home:     t.TempDir(),
		Backends: registry.New(registry.Entry{Name: "fake", New: func(registry.Config) (backend.Backend, error) { return fb, nil }}),
	}, fb
}

func startFake(t *testing.T, m *lifecycle.Manager, fb *fakebackend.Backend, slug string, owner int) {
	t.Helper()
	dir := launch.StateDir(m.Home, slug)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := launch.WriteRecord(dir, launch.Record{Slug: slug, Backend: "fake", Cwd: "/work"}); err != nil {
		t.Fatal(err)
	}
	spec := &backend.Spec{Slug: slug, StateDir: dir, Command: []string{"sleep"}, OwnerPID: owner}
	if err := fb.Start(context.Background(), spec, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fb.Stop(context.Background(), slug) })
}

// TestCleanupTakesOrphansOnly: cleanup's plan holds the bottle whose owner
// is gone and its left keys, never a live bottle or a live bottle's keys.
func TestCleanupTakesOrphansOnly(t *testing.T) {
	m, fb := newManager(t)
	ctx := context.Background()
	startFake(t, m, fb, "live-00001", os.Getpid())
	startFake(t, m, fb, "dead-00001", deadPID(t))
	for _, slug := range []string{"live-00001", "dead-00001"} {
		// Keys a forge at an unreachable address holds: the revoke must
		// fail and keep them, and only the orphan's are tried.
		rec, _ := launch.ReadRecord(m.Home, slug)
		rec.DeployKeys = []launch.DeployKey{{Repo: "r", API: "http://127.0.0.1:1/api/v1", Owner: "o", Name: "n", ID: 7, TokenEnv: "NO_SUCH_TOKEN"}}
		if err := launch.WriteRecord(launch.StateDir(m.Home, slug), rec); err != nil {
			t.Fatal(err)
		}
	}
	p, errs := m.PlanCleanup(ctx, lifecycle.DefaultKeepState)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if len(p.Orphans) != 1 || p.Orphans[0].Slug != "dead-00001" {
		t.Fatalf("orphans %+v, want dead-00001 alone", p.Orphans)
	}
	if len(p.Keys) != 1 || p.Keys[0].Slug != "dead-00001" {
		t.Fatalf("keys of %+v, want dead-00001's alone", p.Keys)
	}
	var done []string
	err := m.Cleanup(ctx, p, func(s string) { done = append(done, s) })
	if err == nil {
		t.Fatal("cleanup revoked a key without its token")
	}
	if in, ok, _ := m.Find(ctx, fb, "dead-00001"); ok {
		t.Fatalf("the orphan is still listed: %+v", in)
	}
	if _, ok, _ := m.Find(ctx, fb, "live-00001"); !ok {
		t.Fatal("cleanup removed a live bottle")
	}
	if rec, _ := launch.ReadRecord(m.Home, "dead-00001"); len(rec.DeployKeys) != 1 {
		t.Fatalf("a key whose revoke failed left the record: %+v", rec.DeployKeys)
	}
}

// TestRemoveRetires: removing a bottle deletes its control token from the
// host, and a second remove is no error.
func TestRemoveRetires(t *testing.T) {
	m, fb := newManager(t)
	startFake(t, m, fb, "gone-00001", os.Getpid())
	token := filepath.Join(launch.StateDir(m.Home, "gone-00001"), "control.token")
	if err := os.WriteFile(token, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(context.Background(), fb, "gone-00001"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(token); !os.IsNotExist(err) {
		t.Fatalf("control token after remove: %v", err)
	}
	if err := m.Remove(context.Background(), fb, "gone-00001"); err != nil {
		t.Fatalf("a second remove: %v", err)
	}
}

func TestResumeElsewhere(t *testing.T) {
	m, fb := newManager(t)
	startFake(t, m, fb, "here-00001", os.Getpid())
	if err := fb.Stop(context.Background(), "here-00001"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Resume(context.Background(), "here-00001", "/elsewhere"); err == nil {
		t.Fatal("resumed from another working tree")
	}
	r, err := m.Resume(context.Background(), "here-00001", "/work")
	if err != nil || r.Running || r.Record.Slug != "here-00001" {
		t.Fatalf("Resume = %+v, %v", r, err)
	}
}

func deadPID(t *testing.T) int {
	t.Helper()
	pid, err := backendtest.DeadPID()
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
