package pushcheck

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// refusal is a rejection's ref, rule and reason.
type refusal struct{ Ref, Rule, Reason string }

func refusals(rejs []gitgate.Rejection) []refusal {
	var out []refusal
	for _, rj := range rejs {
		out = append(out, refusal{rj.Ref.String(), rj.Rule, rj.Reason})
	}
	return out
}

func TestBranchPolicy(t *testing.T) {
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	next := f.edit(base, map[string]string{"a.txt": "a\n"})

	const defaultReason = "the upstream's default branch main is not pushable by default"
	patterns := []string{"feature/*", "bot/**", "release-**-rc", "**/wip"}
	patternsReason := "branch not allowed; pushable branches: feature/*, bot/**, release-**-rc, **/wip"
	tests := []struct {
		name          string
		branches      []string
		defaultBranch string
		cmd           gitgate.Command
		want          []refusal
	}{
		{"default-refuses-default-branch", nil, "main", update("main", base, next),
			[]refusal{{"refs/heads/main", RuleBranch, defaultReason}}},
		{"default-refuses-deleting-default-branch", nil, "main", del("main", base),
			[]refusal{{"refs/heads/main", RuleBranch, defaultReason}}},
		{"default-allows-other-branch", nil, "main", create("feature", next), nil},
		{"default-allows-deleting-other-branch", nil, "main", del("old", base), nil},
		{"empty-upstream-allows-all", nil, "", create("main", next), nil},
		{"star-within-segment", patterns, "main", create("feature/x", next), nil},
		{"star-not-across-segments", patterns, "main", create("feature/x/y", next),
			[]refusal{{"refs/heads/feature/x/y", RuleBranch, patternsReason}}},
		{"doublestar-across-segments", patterns, "main", create("bot/a/b/c", next), nil},
		{"doublestar-needs-a-segment", patterns, "main", create("bot", next),
			[]refusal{{"refs/heads/bot", RuleBranch, patternsReason}}},
		{"doublestar-inside-segment", patterns, "main", create("release-1/2-rc", next), nil},
		{"leading-doublestar-matches-root", patterns, "main", create("wip", next), nil},
		{"leading-doublestar-matches-nested", patterns, "main", create("a/b/wip", next), nil},
		{"explicit-allows-default-branch", []string{"main"}, "main", update("main", base, next), nil},
		{"explicit-refuses-delete", patterns, "main", del("main", base),
			[]refusal{{"refs/heads/main", RuleBranch, patternsReason}}},
		{"empty-list-allows-none", []string{}, "main", create("feature/x", next),
			[]refusal{{"refs/heads/feature/x", RuleBranch, "no branch is pushable from this bottle"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := f.push(tt.cmd)
			p.DefaultBranch = ""
			if tt.defaultBranch != "" {
				p.DefaultBranch = plumbing.NewBranchReferenceName(tt.defaultBranch)
			}
			got := refusals(check(t, newChecker(t, Config{Branches: tt.branches}), p))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check(%s) (-want +got):\n%s", tt.cmd.Name, diff)
			}
		})
	}
}

func TestTagAndRefPolicy(t *testing.T) {
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	next := f.edit(base, map[string]string{"a.txt": "a\n"})
	annotated := f.tag("v2", next, plumbing.CommitObject)
	ofBlob := f.tag("data", f.blob("some data\n"), plumbing.BlobObject)

	tests := []struct {
		name string
		cmd  gitgate.Command
		want []refusal
	}{
		{"create-lightweight", create("refs/tags/v1", next), nil},
		{"create-annotated", create("refs/tags/v2", annotated), nil},
		{"move", update("refs/tags/v1", base, next),
			[]refusal{{"refs/tags/v1", RuleTag, "existing tags cannot be moved"}}},
		{"delete", del("refs/tags/v1", base),
			[]refusal{{"refs/tags/v1", RuleTag, "tags cannot be deleted"}}},
		{"tag-of-blob", create("refs/tags/data", ofBlob),
			[]refusal{{"refs/tags/data", RuleRef, "the ref does not point to a commit"}}},
		{"notes", create("refs/notes/commits", next),
			[]refusal{{"refs/notes/commits", RuleRef, "only branches and tags can be pushed"}}},
		{"pull-request-ref", create("refs/pull/1/head", next),
			[]refusal{{"refs/pull/1/head", RuleRef, "only branches and tags can be pushed"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refusals(check(t, newChecker(t, Config{}), f.push(tt.cmd)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check(%s) (-want +got):\n%s", tt.cmd.Name, diff)
			}
		})
	}
}

func TestAnnotatedTagScanned(t *testing.T) {
	key := fakeAWSKey(7)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	leaky := f.edit(base, map[string]string{"k.txt": key + "\n"})
	tag := f.tag("v1", leaky, plumbing.CommitObject)
	want := []verdict{{Ref: "refs/tags/v1", Rule: RuleSecret, Items: []string{short(leaky) + " k.txt:1 rule=aws-access-token"}}}
	if diff := cmp.Diff(want, verdicts(check(t, newChecker(t, Config{}), f.push(create("refs/tags/v1", tag))))); diff != "" {
		t.Errorf("Check(tag of leaky commit) (-want +got):\n%s", diff)
	}
}

func TestProtectedPaths(t *testing.T) {
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{
		".github/workflows/ci.yml": "on: push\n", ".gitlab-ci.yml": "stages: [test]\n",
		"docs/guide.md": "# guide\n", "deploy/prod.yml": "replicas: 3\n",
	})
	f.publish()
	tests := []struct {
		name      string
		protected []string
		edits     map[string]string
		want      []string // detail items, without the commit
	}{
		{"add", nil, map[string]string{".github/workflows/release.yml": "on: tag\n"}, []string{".github/workflows/release.yml (added)"}},
		{"modify", nil, map[string]string{".gitlab-ci.yml": "stages: [deploy]\n"}, []string{".gitlab-ci.yml (modified)"}},
		{"delete", nil, map[string]string{".github/workflows/ci.yml": deleted}, []string{".github/workflows/ci.yml (deleted)"}},
		{"rename-out", nil, map[string]string{".github/workflows/ci.yml": deleted, "ci.yml": "on: push\n"},
			[]string{".github/workflows/ci.yml -> ci.yml (renamed)"}},
		{"rename-in", nil, map[string]string{"docs/guide.md": deleted, ".github/workflows/guide.md": "# guide\n"},
			[]string{"docs/guide.md -> .github/workflows/guide.md (renamed)"}},
		{"git-hooks", nil, map[string]string{".git/hooks/pre-commit": "#!/bin/sh\n"}, []string{".git/hooks/pre-commit (added)"}},
		{"nested-not-root", nil, map[string]string{"sub/.github/workflows/x.yml": "on: push\n"}, nil},
		{"unprotected", nil, map[string]string{"docs/guide.md": "# guide v2\n"}, nil},
		{"custom", []string{"deploy/**", "**/*.pem"}, map[string]string{"deploy/prod.yml": "replicas: 4\n", "a/b/c.pem": "x\n", ".gitlab-ci.yml": "x: 1\n"},
			[]string{"a/b/c.pem (added)", "deploy/prod.yml (modified)"}},
		{"none", []string{}, map[string]string{".gitlab-ci.yml": "x: 1\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.edit(base, tt.edits)
			rejs := check(t, newChecker(t, Config{ProtectedPaths: tt.protected}), f.push(create("feature", c)))
			var want []verdict
			if tt.want != nil {
				v := verdict{Ref: "refs/heads/feature", Rule: RuleProtected}
				for _, w := range tt.want {
					v.Items = append(v.Items, short(c)+" "+w)
				}
				want = append(want, v)
			}
			if diff := cmp.Diff(want, verdicts(rejs)); diff != "" {
				t.Errorf("Check verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

// A merge that brings in the upstream's own change to a protected path
// does not change it; a merge that edits it does.
func TestProtectedPathMerge(t *testing.T) {
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{".gitlab-ci.yml": "v1\n", "a.txt": "a\n"})
	feature := f.edit(base, map[string]string{"a.txt": "a\nb\n"})
	upstream := f.edit(base, map[string]string{".gitlab-ci.yml": "v2\n"})
	f.publish()

	clean := f.commit([]plumbing.Hash{feature, upstream}, map[string]string{".gitlab-ci.yml": "v2\n", "a.txt": "a\nb\n"})
	if rejs := check(t, newChecker(t, Config{}), f.push(update("feature", feature, clean))); len(rejs) != 0 {
		t.Errorf("Check(merge of upstream change) = %+v, want no rejections", rejs)
	}
	evil := f.commit([]plumbing.Hash{feature, upstream}, map[string]string{".gitlab-ci.yml": "v3\n", "a.txt": "a\nb\n"})
	want := []verdict{{Ref: "refs/heads/feature", Rule: RuleProtected, Items: []string{short(evil) + " .gitlab-ci.yml (modified)"}}}
	if diff := cmp.Diff(want, verdicts(check(t, newChecker(t, Config{}), f.push(update("feature", feature, evil))))); diff != "" {
		t.Errorf("Check(merge editing a protected path) (-want +got):\n%s", diff)
	}
}

func TestPushTooLarge(t *testing.T) {
	f := newFixture(t)
	c := f.edit(plumbing.ZeroHash, map[string]string{"a.txt": "a\n"})
	p := f.push(create("feature", c))
	p.PackBytes = 3 << 20
	got := check(t, newChecker(t, Config{MaxPushBytes: 1 << 20}), p)
	want := []refusal{{"", RuleTooLarge, "push of 3.0 MiB is over the 1.0 MiB limit"}}
	if diff := cmp.Diff(want, refusals(got)); diff != "" {
		t.Errorf("Check(3 MiB push, 1 MiB limit) (-want +got):\n%s", diff)
	}
	p.PackBytes = 1 << 20
	if got := check(t, newChecker(t, Config{MaxPushBytes: 1 << 20}), p); len(got) != 0 {
		t.Errorf("Check(push at the limit) = %+v, want no rejections", got)
	}
}

func TestCheckErrors(t *testing.T) {
	f := newFixture(t)
	c := f.edit(plumbing.ZeroHash, map[string]string{"a.txt": lines(1, 50)})
	checker := newChecker(t, Config{})

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := checker.Check(ctx, f.push(create("feature", c))); !errors.Is(err, context.Canceled) {
			t.Errorf("Check(canceled) error = %v, want context.Canceled", err)
		}
	})
	t.Run("tree-naming-a-file-twice", func(t *testing.T) {
		tree := f.store(&object.Tree{Entries: []object.TreeEntry{
			{Name: "a.txt", Mode: filemode.Regular, Hash: f.blob("shown\n")},
			{Name: "a.txt", Mode: filemode.Regular, Hash: f.blob("shadowed\n")},
		}})
		sig := object.Signature{Name: "agent", When: time.Unix(1.7e9, 0)}
		dup := f.store(&object.Commit{Author: sig, Committer: sig, TreeHash: tree, ParentHashes: []plumbing.Hash{c}})
		if _, err := checker.Check(context.Background(), f.push(create("feature", dup))); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("Check(tree naming a file twice) error = %v, want one saying so", err)
		}
	})
	t.Run("missing-object", func(t *testing.T) {
		p := f.push(create("feature", c))
		missing := plumbing.NewHash(strings.Repeat("ab", 20))
		p.Commands = append(p.Commands, create("other", missing))
		if _, err := checker.Check(context.Background(), p); !errors.Is(err, plumbing.ErrObjectNotFound) {
			t.Errorf("Check(missing object) error = %v, want ErrObjectNotFound", err)
		}
	})
}

func TestNewValidates(t *testing.T) {
	d := detector(t)
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no-detector", Config{}, []string{"no Detector"}},
		{"bad-patterns", Config{Detector: d, Branches: []string{"refs/heads/x", ""}, ProtectedPaths: []string{"/abs", "a/../b"}},
			[]string{"without refs/heads/", "branch pattern is empty", "relative to the repository root", ". or .. segments"}},
		{"negative-size", Config{Detector: d, MaxPushBytes: -1}, []string{"negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New(%+v) = nil error, want one", tt.cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error %q does not mention %q", err, w)
				}
			}
		})
	}
}
