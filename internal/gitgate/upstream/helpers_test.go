package upstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

const repo = "app.git"

// fixture is an upstream served by gittest and the gate's mirror of it.
type fixture struct {
	srv    *gittest.Server
	bare   string // the upstream's directory
	mirror string // the mirror's directory
	up     *upstream.SSH
}

func newFixture(t *testing.T, mod ...func(*upstream.Config)) *fixture {
	t.Helper()
	s := gittest.Start(t)
	f := &fixture{srv: s, bare: s.NewBare(repo), mirror: t.TempDir()}
	if _, err := git.PlainInit(f.mirror, true); err != nil {
		t.Fatal(err)
	}
	cfg := upstream.Config{
		Repo:    "app",
		Host:    s.Host,
		Port:    s.Port,
		Path:    s.Path(repo),
		HostKey: s.HostKey,
		Key:     s.ClientKey,
		Timeout: 10 * time.Second,
	}
	for _, m := range mod {
		m(&cfg)
	}
	up, err := upstream.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.up = up
	return f
}

// repo opens the mirror afresh, so objects git wrote behind go-git's
// back are seen.
func (f *fixture) repo(t *testing.T) *git.Repository {
	t.Helper()
	r, err := git.PlainOpen(f.mirror)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) fetch(t *testing.T) {
	t.Helper()
	if err := f.up.Fetch(ctx(t), f.repo(t)); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// refs lists the branches and tags of the repository in dir, as git sees
// them.
func refs(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := gittest.Git(t, dir, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags")
	m := map[string]string{}
	for line := range strings.Lines(out) {
		name, h, _ := strings.Cut(strings.TrimSpace(line), " ")
		m[name] = h
	}
	return m
}

// head returns what HEAD of the repository in dir names.
func head(t *testing.T, dir string) string {
	t.Helper()
	return gittest.Git(t, dir, "symbolic-ref", "HEAD")
}

func hash(s string) plumbing.Hash { return plumbing.NewHash(s) }

// fsck checks the repository in dir with git.
func fsck(t *testing.T, dir string) {
	t.Helper()
	gittest.Git(t, dir, "fsck", "--strict", "--no-dangling")
}
