package gitgate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignorePackBytes leaves the pack size, which depends on git's
// compression, out of comparisons.
var ignorePackBytes = cmpopts.IgnoreFields(checkedPush{}, "PackBytes")

// TestPushFlow runs the everyday pushes one after another on one clone,
// then checks that every repository involved is intact.
func TestPushFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	e.checker.take()
	e.takeEvents()

	// Each step runs on the state the previous one left.
	step := func(name string, f func(t *testing.T, e *env)) {
		if !t.Run(name, func(t *testing.T) { f(t, e.with(t)) }) {
			t.FailNow()
		}
	}
	var feature string
	step("new-branch", func(t *testing.T, e *env) {
		e.run(dir, "checkout", "--quiet", "-b", "feature")
		feature = e.commit(dir, "feature.txt", "feature\n", "feature")
		e.run(dir, "push", "--quiet", "origin", "feature")
		e.wantRef(t, "refs/heads/feature", feature)
		want := []checkedPush{{
			Repo:          "proj",
			Commands:      []Command{{Name: "refs/heads/feature", New: plumbing.NewHash(feature)}},
			NewCommits:    hashes(feature),
			DefaultBranch: "refs/heads/main",
		}}
		if diff := cmp.Diff(want, e.checker.take(), ignorePackBytes); diff != "" {
			t.Errorf("Checker saw (-want +got):\n%s", diff)
		}
		wantUp := []upstreamPush{{Updates: []Update{{Command: Command{Name: "refs/heads/feature", New: plumbing.NewHash(feature)}}}}}
		if diff := cmp.Diff(wantUp, e.up.takePushes()); diff != "" {
			t.Errorf("Upstream.Push calls (-want +got):\n%s", diff)
		}
		wantEv := []Event{
			{Repo: "proj", Op: OpPush, Ref: "refs/heads/feature", Decision: DecisionAllow, Detail: plumbing.ZeroHash.String() + ".." + feature},
		}
		if diff := cmp.Diff(wantEv, e.takeEvents()); diff != "" {
			t.Errorf("audit events (-want +got):\n%s", diff)
		}
	})

	step("branch-at-known-commit", func(t *testing.T, e *env) {
		// git sends an empty pack: nothing is new, and nothing to check.
		e.run(dir, "push", "--quiet", "origin", "feature:refs/heads/copy")
		e.wantRef(t, "refs/heads/copy", feature)
		got := e.checker.take()
		if len(got) != 1 || len(got[0].NewCommits) != 0 {
			t.Errorf("Checker saw %+v, want one push with no new commits", got)
		}
		e.run(dir, "push", "--quiet", "origin", ":copy")
		e.wantRef(t, "refs/heads/copy", "")
		e.checker.take()
		e.up.takePushes()
		e.takeEvents()
	})

	step("incremental-thin", func(t *testing.T, e *env) {
		// Changing a line of a large existing file makes git send a thin
		// pack: the new blob is a delta against the old one, which only
		// the mirror holds.
		e.run(dir, "checkout", "--quiet", "main")
		text := randomText(t, 64<<10)
		c1 := e.commit(dir, "big.txt", text, "big file")
		e.run(dir, "push", "--quiet", "origin", "main")
		e.checker.take()
		e.up.takePushes()
		c2 := e.commit(dir, "big.txt", "changed\n"+text[10:], "change a line")
		e.run(dir, "push", "--quiet", "origin", "main")
		e.wantRef(t, "refs/heads/main", c2)
		got := e.checker.take()
		if len(got) != 1 || !cmp.Equal(got[0].NewCommits, hashes(c2)) {
			t.Fatalf("Checker saw %+v, want NewCommits [%s]", got, c2)
		}
		if n := got[0].PackBytes; n <= 0 || n > 4<<10 {
			t.Errorf("Push.PackBytes = %d, want a thin pack of a few hundred bytes", n)
		}
		want := []upstreamPush{{Updates: []Update{{Command: Command{Name: "refs/heads/main", Old: plumbing.NewHash(c1), New: plumbing.NewHash(c2)}}}}}
		if diff := cmp.Diff(want, e.up.takePushes()); diff != "" {
			t.Errorf("Upstream.Push calls (-want +got):\n%s", diff)
		}
	})

	step("force", func(t *testing.T, e *env) {
		old := e.rev(dir, "HEAD")
		e.run(dir, "commit", "--quiet", "--amend", "-m", "third line, reworded")
		c := e.rev(dir, "HEAD")
		out := e.run(dir, "push", "--force", "origin", "main")
		if !strings.Contains(out, "(forced update)") {
			t.Errorf("git push --force printed %q, want a forced update", out)
		}
		e.wantRef(t, "refs/heads/main", c)
		want := []upstreamPush{{Updates: []Update{{Command: Command{Name: "refs/heads/main", Old: plumbing.NewHash(old), New: plumbing.NewHash(c)}, Force: true}}}}
		if diff := cmp.Diff(want, e.up.takePushes()); diff != "" {
			t.Errorf("Upstream.Push calls (-want +got):\n%s", diff)
		}
	})

	step("atomic", func(t *testing.T, e *env) {
		e.run(dir, "checkout", "--quiet", "-b", "one")
		one := e.commit(dir, "one.txt", "1\n", "one")
		e.run(dir, "checkout", "--quiet", "-b", "two")
		two := e.commit(dir, "two.txt", "2\n", "two")
		e.run(dir, "push", "--quiet", "--atomic", "origin", "one", "two")
		e.wantRef(t, "refs/heads/one", one)
		e.wantRef(t, "refs/heads/two", two)
		e.run(dir, "push", "--quiet", "--atomic", "origin", ":one", ":two")
		e.wantRef(t, "refs/heads/one", "")
		e.run(dir, "checkout", "--quiet", "main")
		e.up.takePushes()
	})

	step("delete-branch", func(t *testing.T, e *env) {
		e.run(dir, "push", "--quiet", "origin", ":feature")
		e.wantRef(t, "refs/heads/feature", "")
		want := []upstreamPush{{Updates: []Update{{Command: Command{Name: "refs/heads/feature", Old: plumbing.NewHash(feature)}}}}}
		if diff := cmp.Diff(want, e.up.takePushes()); diff != "" {
			t.Errorf("Upstream.Push calls (-want +got):\n%s", diff)
		}
	})

	step("tags", func(t *testing.T, e *env) {
		e.run(dir, "tag", "v1")
		e.run(dir, "tag", "-a", "-m", "release two", "v2", "HEAD~1")
		e.run(dir, "push", "--quiet", "origin", "v1", "v2")
		e.wantRef(t, "refs/tags/v1", e.rev(dir, "v1"))
		e.wantRef(t, "refs/tags/v2", e.rev(dir, "v2"))

		// A new clone gets both; an older one follows the tags with
		// a fetch.
		other := e.clone("tags")
		if got := e.run(other, "tag", "-l"); got != "v1\nv2\n" {
			t.Errorf("clone has tags %q, want v1 and v2", got)
		}
		if got := e.rev(other, "v2^{commit}"); got != e.rev(dir, "HEAD~1") {
			t.Errorf("clone's v2 peels to %s, want %s", got, e.rev(dir, "HEAD~1"))
		}
		e.run(dir, "tag", "-d", "v1", "v2")
		e.run(dir, "fetch", "--quiet", "origin")
		if got := e.run(dir, "tag", "-l"); got != "v1\nv2\n" {
			t.Errorf("after fetch the clone has tags %q, want v1 and v2", got)
		}
	})

	step("fetch-after-push", func(t *testing.T, e *env) {
		other := e.clone("second")
		c := e.commit(other, "other.txt", "from another clone\n", "other clone")
		e.run(other, "push", "--quiet", "origin", "main")
		e.run(dir, "pull", "--quiet", "--ff-only")
		if got := e.rev(dir, "HEAD"); got != c {
			t.Errorf("after pull HEAD = %q, want %s", got, c)
		}
	})

	for _, d := range []string{e.mirror, e.up.dir, dir} {
		e.run(d, "fsck", "--full", "--strict", "--no-dangling")
	}
}

// wantRef checks that the upstream and the mirror agree that ref is want
// ("" for absent).
func (e *env) wantRef(t *testing.T, ref, want string) {
	t.Helper()
	if got := e.rev(e.up.dir, ref); got != want {
		t.Errorf("upstream %s = %q, want %q", ref, got, want)
	}
	if got := e.rev(e.mirror, ref); got != want {
		t.Errorf("mirror %s = %q, want %q", ref, got, want)
	}
}

func TestPushOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	e.checker.take()
	e.commit(dir, "a.txt", "a\n", "a")
	e.run(dir, "push", "--quiet", "-o", "a=1", "-o", "b", "origin", "main")

	want := []string{"a=1", "b"}
	if got := e.checker.take(); len(got) != 1 || !cmp.Equal(got[0].Options, want) {
		t.Errorf("Checker saw %+v, want options %q", got, want)
	}
	if got := e.up.takePushes(); len(got) != 1 || !cmp.Equal(got[0].Options, want) {
		t.Errorf("Upstream.Push calls %+v, want options %q", got, want)
	}
	b, err := os.ReadFile(filepath.Join(e.up.dir, "received-options"))
	if err != nil || string(b) != "a=1\nb\n" {
		t.Errorf("upstream hook received options %q (%v), want a=1 and b", b, err)
	}
}
