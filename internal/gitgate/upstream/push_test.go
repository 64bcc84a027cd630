package upstream_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// seeded returns a fixture whose upstream main is at base, fetched into
// the mirror.
func seeded(t *testing.T) (f *fixture, base string) {
	t.Helper()
	f = newFixture(t)
	base = gittest.Commit(t, f.bare, "main", "base", map[string]string{"README": "base\n"})
	f.fetch(t)
	return f, base
}

// work adds a commit to the mirror on a scratch branch, as the gate's
// quarantine would after the agent's push, and returns its hash.
func (f *fixture) work(t *testing.T, parentBranch, msg string) string {
	t.Helper()
	scratch := "scratch/" + msg
	if parentBranch != "" {
		gittest.Git(t, f.mirror, "update-ref", "refs/heads/"+scratch, "refs/heads/"+parentBranch)
	}
	h := gittest.Commit(t, f.mirror, scratch, msg, map[string]string{msg + ".txt": msg + "\n"})
	gittest.Git(t, f.mirror, "update-ref", "-d", "refs/heads/"+scratch)
	return h
}

func update(name, from, to string, force bool) gitgate.Update {
	u := gitgate.Update{Command: gitgate.Command{Name: plumbing.ReferenceName(name)}, Force: force}
	if from != "" {
		u.Old = hash(from)
	}
	if to != "" {
		u.New = hash(to)
	}
	return u
}

// push pushes and fails t on a whole-push error.
func (f *fixture) push(t *testing.T, options []string, updates ...gitgate.Update) ([]error, string) {
	t.Helper()
	var progress bytes.Buffer
	res, err := f.up.Push(ctx(t), f.repo(t), updates, options, &progress)
	if err != nil {
		t.Fatalf("Push: %v\nprogress:\n%s", err, progress.String())
	}
	if len(res) != len(updates) {
		t.Fatalf("Push returned %d results for %d updates", len(res), len(updates))
	}
	return res, progress.String()
}

func wantAccepted(t *testing.T, res []error) {
	t.Helper()
	for i, err := range res {
		if err != nil {
			t.Errorf("result %d = %v, want accepted", i, err)
		}
	}
}

func TestPush(t *testing.T) {
	f, base := seeded(t)
	next := f.work(t, "main", "next")
	topic := f.work(t, "", "topic") // a new root: every object is new
	// What a forge says after the report, such as a pull request link.
	hook := "#!/bin/sh\necho 'open a pull request: https://forge.invalid/pr' >&2\n"
	if err := os.WriteFile(filepath.Join(f.bare, "hooks", "post-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}

	res, progress := f.push(t, nil,
		update("refs/heads/main", base, next, false),
		update("refs/heads/topic", "", topic, false),
		update("refs/tags/v1", "", base, false), // objects the upstream has
	)
	wantAccepted(t, res)
	want := map[string]string{"refs/heads/main": next, "refs/heads/topic": topic, "refs/tags/v1": base}
	if diff := cmp.Diff(want, refs(t, f.bare)); diff != "" {
		t.Errorf("upstream refs (-want +got):\n%s", diff)
	}
	fsck(t, f.bare)
	if !strings.Contains(progress, "open a pull request: https://forge.invalid/pr") {
		t.Errorf("progress lacks the post-receive message:\n%s", progress)
	}
	if got := f.srv.PushOptions(repo); got != nil {
		t.Errorf("push options = %q, want none", got)
	}
}

func TestPushToEmpty(t *testing.T) {
	f := newFixture(t)
	f.fetch(t)
	first := f.work(t, "", "first")
	res, _ := f.push(t, nil, update("refs/heads/main", "", first, false))
	wantAccepted(t, res)
	if got := refs(t, f.bare)["refs/heads/main"]; got != first {
		t.Errorf("upstream main = %s, want %s", got, first)
	}
	fsck(t, f.bare)
}

func TestPushForce(t *testing.T) {
	f, base := seeded(t)
	other := f.work(t, "", "rewrite") // does not descend from base

	res, _ := f.push(t, nil, update("refs/heads/main", base, other, true))
	wantAccepted(t, res)
	if got := refs(t, f.bare)["refs/heads/main"]; got != other {
		t.Errorf("upstream main = %s, want %s", got, other)
	}
	fsck(t, f.bare)
}

func TestPushDelete(t *testing.T) {
	f, base := seeded(t)
	gittest.Git(t, f.bare, "update-ref", "refs/heads/old", base)
	f.fetch(t)

	res, _ := f.push(t, nil,
		update("refs/heads/old", base, "", false),
		update("refs/heads/gone", base, "", false), // already absent: done
	)
	wantAccepted(t, res)
	if diff := cmp.Diff(map[string]string{"refs/heads/main": base}, refs(t, f.bare)); diff != "" {
		t.Errorf("upstream refs (-want +got):\n%s", diff)
	}
}

func TestPushOptions(t *testing.T) {
	f, base := seeded(t)
	next := f.work(t, "main", "next")
	// Order kept, duplicates kept, key-only options without "=".
	opts := []string{"ci.skip", "z=1", "merge_request.create", "a=two words", "z=1"}

	res, _ := f.push(t, opts, update("refs/heads/main", base, next, false))
	wantAccepted(t, res)
	if diff := cmp.Diff(opts, f.srv.PushOptions(repo)); diff != "" {
		t.Errorf("options the upstream saw (-sent +got):\n%s", diff)
	}
}

func TestPushOptionsNotAdvertised(t *testing.T) {
	f, base := seeded(t)
	gittest.Git(t, f.bare, "config", "receive.advertisePushOptions", "false")
	next := f.work(t, "main", "next")

	_, err := f.up.Push(ctx(t), f.repo(t), []gitgate.Update{update("refs/heads/main", base, next, false)}, []string{"ci.skip"}, nil)
	if err == nil || !strings.Contains(err.Error(), "push-options not advertised") {
		t.Errorf("Push with options to an upstream without push-options = %v, want a refusal", err)
	}
	if got := refs(t, f.bare)["refs/heads/main"]; got != base {
		t.Errorf("upstream main = %s, want %s unchanged", got, base)
	}

	// Without options the same push goes through.
	res, _ := f.push(t, nil, update("refs/heads/main", base, next, false))
	wantAccepted(t, res)
}

// TestPushStale: an update computed against the mirror must not
// overwrite what others pushed upstream since the mirror's refresh; the
// other refs of the push still go through.
func TestPushStale(t *testing.T) {
	f, base := seeded(t)
	next := f.work(t, "main", "next")
	topic := f.work(t, "main", "topic")
	// Others move main and create topic upstream after the refresh.
	theirs := gittest.Commit(t, f.bare, "main", "theirs", map[string]string{"theirs": "x\n"})
	gittest.Git(t, f.bare, "update-ref", "refs/heads/topic", base)

	res, _ := f.push(t, nil,
		update("refs/heads/main", base, next, false),
		update("refs/heads/topic", "", topic, false),
		update("refs/heads/fresh", "", next, false),
	)
	for i, ref := range []string{"refs/heads/main", "refs/heads/topic"} {
		if !errors.Is(res[i], upstream.ErrStale) || !strings.Contains(res[i].Error(), ref) {
			t.Errorf("result for %s = %v, want ErrStale naming it", ref, res[i])
		}
	}
	if res[2] != nil {
		t.Errorf("result for refs/heads/fresh = %v, want accepted", res[2])
	}
	want := map[string]string{"refs/heads/main": theirs, "refs/heads/topic": base, "refs/heads/fresh": next}
	if diff := cmp.Diff(want, refs(t, f.bare)); diff != "" {
		t.Errorf("upstream refs (-want +got):\n%s", diff)
	}
}

func TestPushHookRefusal(t *testing.T) {
	f, base := seeded(t)
	f.srv.DenyRef(repo, "refs/heads/protected")
	next := f.work(t, "main", "next")

	res, progress := f.push(t, nil,
		update("refs/heads/main", base, next, false),
		update("refs/heads/protected", "", next, false),
	)
	if res[0] != nil {
		t.Errorf("result for main = %v, want accepted", res[0])
	}
	if !errors.Is(res[1], upstream.ErrRejected) || !strings.Contains(res[1].Error(), "hook declined") {
		t.Errorf("result for protected = %v, want ErrRejected: hook declined", res[1])
	}
	if !strings.Contains(progress, "gittest: refs/heads/protected is protected, push declined") {
		t.Errorf("progress lacks the hook's message:\n%s", progress)
	}
	want := map[string]string{"refs/heads/main": next}
	if diff := cmp.Diff(want, refs(t, f.bare)); diff != "" {
		t.Errorf("upstream refs (-want +got):\n%s", diff)
	}
}

// TestPushNoNewObjects: refs already in the wanted state are not sent,
// and a new ref at a commit the upstream has goes with an empty pack.
func TestPushNoNewObjects(t *testing.T) {
	f, base := seeded(t)
	res, _ := f.push(t, nil, update("refs/heads/main", base, base, false))
	wantAccepted(t, res)

	theirs := gittest.Commit(t, f.bare, "main", "theirs", map[string]string{"t": "t\n"})
	f.fetch(t)
	res, _ = f.push(t, nil,
		update("refs/heads/main", base, theirs, false), // upstream is already there
		update("refs/heads/copy", "", base, false),
	)
	wantAccepted(t, res)
	want := map[string]string{"refs/heads/main": theirs, "refs/heads/copy": base}
	if diff := cmp.Diff(want, refs(t, f.bare)); diff != "" {
		t.Errorf("upstream refs (-want +got):\n%s", diff)
	}
}
