package upstream_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

func TestFetch(t *testing.T) {
	f := newFixture(t)
	gittest.Commit(t, f.bare, "main", "one", map[string]string{"README": "one\n"})
	gittest.Commit(t, f.bare, "feature", "feature", map[string]string{"f": "f\n"})
	gittest.Commit(t, f.bare, "dev", "dev", map[string]string{"d": "d\n"})
	gittest.Git(t, f.bare, "tag", "-a", "-m", "v1", "v1", "main")
	gittest.Git(t, f.bare, "tag", "light", "feature")

	f.fetch(t)
	if diff := cmp.Diff(refs(t, f.bare), refs(t, f.mirror)); diff != "" {
		t.Errorf("mirror refs after the first fetch (-upstream +mirror):\n%s", diff)
	}
	if got := head(t, f.mirror); got != "refs/heads/main" {
		t.Errorf("mirror HEAD = %s, want refs/heads/main", got)
	}
	fsck(t, f.mirror)

	// Upstream: a branch deleted, main rewritten (not a fast-forward), a
	// tag added, and the default branch changed.
	gittest.Git(t, f.bare, "update-ref", "-d", "refs/heads/feature")
	rewritten := gittest.Commit(t, f.bare, "tmp", "rewrite", map[string]string{"other": "x\n"})
	gittest.Git(t, f.bare, "update-ref", "refs/heads/main", rewritten)
	gittest.Git(t, f.bare, "update-ref", "-d", "refs/heads/tmp")
	gittest.Git(t, f.bare, "tag", "-d", "light")
	gittest.Git(t, f.bare, "tag", "v2", "dev")
	gittest.Git(t, f.bare, "symbolic-ref", "HEAD", "refs/heads/dev")

	f.fetch(t)
	want := refs(t, f.bare)
	if diff := cmp.Diff(want, refs(t, f.mirror)); diff != "" {
		t.Errorf("mirror refs after the second fetch (-upstream +mirror):\n%s", diff)
	}
	if _, ok := refs(t, f.mirror)["refs/heads/feature"]; ok {
		t.Error("refs/heads/feature, deleted upstream, was not pruned")
	}
	if got := head(t, f.mirror); got != "refs/heads/dev" {
		t.Errorf("mirror HEAD = %s, want refs/heads/dev", got)
	}
	fsck(t, f.mirror)

	// Nothing new: success, and nothing changes.
	f.fetch(t)
	if diff := cmp.Diff(want, refs(t, f.mirror)); diff != "" {
		t.Errorf("mirror refs after an up-to-date fetch (-upstream +mirror):\n%s", diff)
	}
	if n := len(f.srv.Execs()); n != 3 {
		t.Errorf("%d execs for 3 fetches: %q", n, f.srv.Execs())
	}
}

func TestFetchEmpty(t *testing.T) {
	f := newFixture(t)
	f.fetch(t)
	if got := refs(t, f.mirror); len(got) != 0 {
		t.Errorf("mirror of an empty upstream has refs %v", got)
	}

	// And a mirror whose upstream was emptied loses its refs.
	gittest.Commit(t, f.bare, "main", "one", map[string]string{"README": "one\n"})
	f.fetch(t)
	gittest.Git(t, f.bare, "update-ref", "-d", "refs/heads/main")
	f.fetch(t)
	if got := refs(t, f.mirror); len(got) != 0 {
		t.Errorf("mirror of an emptied upstream has refs %v", got)
	}
}

func TestFetchMissingRepo(t *testing.T) {
	f := newFixture(t, func(c *upstream.Config) { c.Path = "/missing.git" })
	err := f.up.Fetch(ctx(t), f.repo(t))
	if err == nil {
		t.Fatal("Fetch of a missing repository succeeded")
	}
	// The upstream's own words reach the error.
	for _, want := range []string{"repo app: ", "'/missing.git' does not appear to be a git repository"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Fetch error %q lacks %q", err, want)
		}
	}
}

func TestFetchCanceled(t *testing.T) {
	f := newFixture(t)
	gittest.Commit(t, f.bare, "main", "one", map[string]string{"README": "one\n"})
	c, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.up.Fetch(c, f.repo(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a canceled context = %v, want context.Canceled", err)
	}
}

// TestFetchManyCommonHaves fetches into a mirror whose refs are several
// commits of one line of history: upload-pack then answers an ACK for
// each have it already knew, before the pack, and the fetch must read
// past all of them.
func TestFetchManyCommonHaves(t *testing.T) {
	f := newFixture(t)
	// One line of history, z (oldest) to w (newest): the haves go in
	// name order, so each after the first is the parent of one before.
	prev := ""
	for i, b := range []string{"z", "y", "x", "w"} {
		if prev != "" {
			gittest.Git(t, f.bare, "update-ref", "refs/heads/"+b, prev)
		}
		prev = gittest.Commit(t, f.bare, b, b, map[string]string{b: strconv.Itoa(i)})
	}
	gittest.Git(t, f.bare, "update-ref", "refs/heads/main", prev)
	f.fetch(t)
	gittest.Commit(t, f.bare, "main", "later", map[string]string{"d": "4\n"})
	f.fetch(t)
	if diff := cmp.Diff(refs(t, f.bare), refs(t, f.mirror)); diff != "" {
		t.Errorf("mirror refs (-upstream +mirror):\n%s", diff)
	}
	fsck(t, f.mirror)
}
