package lifecycle_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/registry"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/lifecycle"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakebackend"
)

// committer is the fake backend with saved runtimes.
type committer struct {
	*fakebackend.Backend
	n     int
	saved []string
}

func (c *committer) Commit(_ context.Context, slug string) (string, error) {
	c.n++
	ref := fmt.Sprintf("saved-%s-%d", slug, c.n)
	c.saved = append(c.saved, ref)
	return ref, nil
}

func (c *committer) Forget(_ context.Context, ref string) error {
	c.saved = slices.DeleteFunc(c.saved, func(s string) bool { return s == ref })
	return nil
}

// TestCommitRecordsAndCleanupForgets: a commit is recorded for resume and
// replaces the earlier one; the expired state's runtime goes with it.
func TestCommitRecordsAndCleanupForgets(t *testing.T) {
	c := &committer{Backend: fakebackend.New("fake")}
	m := &lifecycle.Manager{
		Home:     t.TempDir(),
		Backends: registry.New(registry.Entry{Name: "fake", New: func(registry.Config) (backend.Backend, error) { return c, nil }}),
	}
	ctx := context.Background()
	endedState(t, m, "kept-00001", "fake", 0, false)
	for range 2 {
		if _, err := m.Commit(ctx, "kept-00001"); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := launch.ReadRecord(m.Home, "kept-00001")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"saved-kept-00001-2"}, c.saved); diff != "" || rec.Committed != "saved-kept-00001-2" {
		t.Fatalf("after two commits: saved (-want +got):\n%s\nrecorded %q", diff, rec.Committed)
	}
	old := time.Now().Add(-40 * 24 * time.Hour)
	dir := launch.StateDir(m.Home, "kept-00001")
	rec.CreatedAt = old
	if err := launch.WriteRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bottle.json", "audit.jsonl"} {
		if err := os.Chtimes(filepath.Join(dir, f), old, old); err != nil {
			t.Fatal(err)
		}
	}
	p, errs := m.PlanCleanup(ctx, lifecycle.DefaultKeepState)
	if len(errs) > 0 || len(p.Expired) != 1 {
		t.Fatalf("plan: %+v %v", p, errs)
	}
	if err := m.Cleanup(ctx, p, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if len(c.saved) != 0 {
		t.Errorf("the expired bottle's runtime is left: %v", c.saved)
	}

	// A backend that cannot commit says what to do instead.
	m2, _ := newManager(t)
	endedState(t, m2, "plain-00001", "fake", 0, false)
	if _, err := m2.Commit(ctx, "plain-00001"); err == nil || !strings.Contains(err.Error(), "--keep-home") {
		t.Errorf("commit on a backend without it = %v, want one naming --keep-home", err)
	}
}
