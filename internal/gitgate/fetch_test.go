package gitgate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCloneEmptyUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	dir := e.path("work")
	out := e.run("", "clone", e.url, dir)
	if !strings.Contains(out, "cloned an empty repository") {
		t.Errorf("git clone of an empty upstream printed %q, want the empty-repository warning", out)
	}

	// The first push into the empty upstream creates its default branch.
	c := e.commit(dir, "README", "first\n", "first")
	e.run(dir, "push", "origin", "main")
	if got := e.rev(e.up.dir, "refs/heads/main"); got != c {
		t.Errorf("upstream main = %q, want %s", got, c)
	}
	got := e.checker.take()
	want := []checkedPush{{
		Repo:       "proj",
		Commands:   []Command{{Name: "refs/heads/main", New: hashes(c)[0]}},
		NewCommits: hashes(c),
		// DefaultBranch is empty: the upstream had no branch.
	}}
	if diff := cmp.Diff(want, got, ignorePackBytes); diff != "" {
		t.Errorf("Checker saw (-want +got):\n%s", diff)
	}
}

func TestClone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.seed()
	dir := e.clone("work")
	if got := e.rev(dir, "HEAD"); got != c {
		t.Errorf("clone HEAD = %q, want %s", got, c)
	}
	if got := strings.TrimSpace(e.run(dir, "symbolic-ref", "HEAD")); got != "refs/heads/main" {
		t.Errorf("clone HEAD names %q, want refs/heads/main", got)
	}
	e.run(dir, "fsck", "--full", "--strict")
	want := []Event{{Repo: "proj", Op: OpFetch, Decision: DecisionAllow, Detail: "1 wants, 3 objects"}}
	if diff := cmp.Diff(want, e.takeEvents()); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

func TestFetchAfterUpstreamChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	c := e.upstreamCommit("CHANGES", "more\n")
	e.run(dir, "pull", "--quiet", "--ff-only")
	if got := e.rev(dir, "HEAD"); got != c {
		t.Errorf("after pull HEAD = %q, want the upstream's new commit %s", got, c)
	}
	e.run(dir, "fsck", "--full", "--strict")
}

// TestFetchManyRounds has the client hold many commits the gate does not
// know, so that it needs several rounds of haves before the gate finds
// the common commit.
func TestFetchManyRounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	e.run(dir, "checkout", "--quiet", "-b", "local")
	// Dated after everything else, so that git sends all of them as haves
	// before the commit the gate knows (git orders haves by date, and
	// commits of one second would come in any order): the rounds grow
	// past 1 KiB, which git sends gzipped.
	base := time.Now().Add(time.Hour)
	for i := range 80 {
		date := "GIT_COMMITTER_DATE=" + base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339)
		if err := os.WriteFile(filepath.Join(dir, "local.txt"), fmt.Appendf(nil, "%d\n", i), 0o644); err != nil {
			t.Fatal(err)
		}
		e.run(dir, "add", "local.txt")
		if out, err := runGit(t.Context(), append(slices.Clone(e.gitEnv), date, strings.Replace(date, "COMMITTER", "AUTHOR", 1)), dir, nil, "commit", "--quiet", "-m", fmt.Sprintf("local %d", i)); err != nil {
			t.Fatalf("commit: %v\n%s", err, out)
		}
	}
	c := e.upstreamCommit("CHANGES", "more\n")
	e.requests.take()
	e.run(dir, "fetch", "--quiet", "origin")
	if got := e.rev(dir, "refs/remotes/origin/main"); got != c {
		t.Errorf("origin/main = %q, want %s", got, c)
	}
	posts, gzipped := 0, 0
	for _, r := range e.requests.take() {
		if r.method == "POST" {
			posts++
			if r.encoding == "gzip" {
				gzipped++
			}
		}
	}
	if posts < 3 {
		t.Errorf("fetch took %d upload-pack requests, want several negotiation rounds", posts)
	}
	if gzipped == 0 {
		t.Errorf("no gzipped request among %d; the test no longer covers gzip bodies", posts)
	}
	// Only the new commit and its tree and blob were sent: the gate
	// found the common commit.
	want := []Event{{Repo: "proj", Op: OpFetch, Decision: DecisionAllow, Detail: "1 wants, 3 objects"}}
	if diff := cmp.Diff(want, e.takeEvents()[1:]); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	e.run(dir, "fsck", "--full", "--strict")
}

func TestUpstreamFetchFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	e.up.setFetchErr(errors.New("dial tcp: connection refused"))
	for _, args := range [][]string{
		{"clone", e.url, e.path("again")},
		{"fetch", "origin"},
		{"push", "origin", "main"},
	} {
		t.Run(args[0], func(t *testing.T) {
			out := e.with(t).fail(dir, args...)
			want := "fatal: remote error: upstream fetch failed: dial tcp: connection refused"
			if !strings.Contains(out, want) {
				t.Errorf("git %s printed:\n%s\nwant %q", args[0], out, want)
			}
		})
	}
}

// TestConcurrentClients clones and pushes at the same time, for the race
// detector and the per-repository locking.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Go(func() {
			if out, err := runGit(t.Context(), e.gitEnv, "", nil, "clone", "--quiet", e.url, e.path(fmt.Sprintf("c%d", i))); err != nil {
				errs <- fmt.Errorf("clone %d: %w: %s", i, err, out)
			}
		})
	}
	for i := range 3 {
		e.commit(dir, "n.txt", fmt.Sprintf("%d\n", i), fmt.Sprintf("n%d", i))
		e.run(dir, "push", "--quiet", "origin", "main")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.wantRef(t, "refs/heads/main", e.rev(dir, "HEAD"))
}
