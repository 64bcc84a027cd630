package gitgate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// fakeUpstream is an Upstream backed by a local bare repository, moved by
// the git binary as a real forwarder would move a remote one.
type fakeUpstream struct {
	e   *env
	dir string

	mu sync.Mutex
	// The fields below are guarded by mu.
	fetchErr, pushErr error
	pushes            []upstreamPush
}

// upstreamPush records one call of Push.
type upstreamPush struct {
	Updates []Update
	Options []string
}

func (u *fakeUpstream) setFetchErr(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fetchErr = err
}

func (u *fakeUpstream) setPushErr(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pushErr = err
}

func (u *fakeUpstream) takePushes() []upstreamPush {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.pushes
	u.pushes = nil
	return p
}

func mirrorDir(repo *git.Repository) (string, error) {
	st, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return "", fmt.Errorf("mirror storer is %T, not a filesystem storage", repo.Storer)
	}
	return st.Filesystem().Root(), nil
}

func (u *fakeUpstream) Fetch(ctx context.Context, mirror *git.Repository) error {
	u.mu.Lock()
	err := u.fetchErr
	u.mu.Unlock()
	if err != nil {
		return err
	}
	dir, err := mirrorDir(mirror)
	if err != nil {
		return err
	}
	if out, err := runGit(ctx, u.e.gitEnv, dir, nil, "fetch", "--quiet", "--prune", "--no-tags", u.dir,
		"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"); err != nil {
		return fmt.Errorf("git fetch: %w: %s", err, out)
	}
	head, err := runGit(ctx, u.e.gitEnv, u.dir, nil, "symbolic-ref", "HEAD")
	if err != nil {
		return fmt.Errorf("reading upstream HEAD: %w: %s", err, head)
	}
	if out, err := runGit(ctx, u.e.gitEnv, dir, nil, "symbolic-ref", "HEAD", strings.TrimSpace(head)); err != nil {
		return fmt.Errorf("setting mirror HEAD: %w: %s", err, out)
	}
	return nil
}

func (u *fakeUpstream) Push(ctx context.Context, mirror *git.Repository, updates []Update, options []string, progress io.Writer) ([]error, error) {
	u.mu.Lock()
	u.pushes = append(u.pushes, upstreamPush{Updates: updates, Options: options})
	err := u.pushErr
	u.mu.Unlock()
	if err != nil {
		_, _ = io.WriteString(progress, "meter 1/2\rmeter 2/2, done.\n")
		return nil, err
	}
	dir, err := mirrorDir(mirror)
	if err != nil {
		return nil, err
	}
	args := []string{"push", "--porcelain"}
	for _, o := range options {
		args = append(args, "-o", o)
	}
	args = append(args, u.dir)
	for _, up := range updates {
		switch {
		case up.Delete():
			args = append(args, ":"+up.Name.String())
		case up.Force:
			args = append(args, "+"+up.New.String()+":"+up.Name.String())
		default:
			args = append(args, up.New.String()+":"+up.Name.String())
		}
	}
	var stderr strings.Builder
	out, runErr := runGit(ctx, u.e.gitEnv, dir, &stderr, args...)
	_, _ = io.WriteString(progress, stderr.String())

	// Porcelain lines: FLAG TAB FROM:TO TAB SUMMARY, with "!" for a
	// refused ref.
	refused := map[plumbing.ReferenceName]string{}
	reported := 0
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		_, to, _ := strings.Cut(f[1], ":")
		reported++
		if f[0] == "!" {
			refused[plumbing.ReferenceName(to)] = f[2]
		}
	}
	if reported == 0 && runErr != nil {
		return nil, fmt.Errorf("git push: %w: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	results := make([]error, len(updates))
	for i, up := range updates {
		if why, ok := refused[up.Name]; ok {
			results[i] = errors.New(why)
		}
	}
	return results, nil
}

// fakeChecker is a Checker whose decision a test sets, and which records
// what it was shown.
type fakeChecker struct {
	mu sync.Mutex
	// The fields below are guarded by mu.
	decide func(*Push) ([]Rejection, error)
	seen   []checkedPush
}

// checkedPush is what a Checker was shown, without the storers.
type checkedPush struct {
	Repo          string
	Commands      []Command
	Options       []string
	NewCommits    []plumbing.Hash
	DefaultBranch plumbing.ReferenceName
	PackBytes     int64
}

func (c *fakeChecker) set(decide func(*Push) ([]Rejection, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.decide = decide
}

func (c *fakeChecker) take() []checkedPush {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.seen
	c.seen = nil
	return s
}

func (c *fakeChecker) Check(_ context.Context, p *Push) ([]Rejection, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, checkedPush{
		Repo: p.Repo, Commands: p.Commands, Options: p.Options, NewCommits: p.NewCommits,
		DefaultBranch: p.DefaultBranch, PackBytes: p.PackBytes,
	})
	// Every new commit must be readable through the quarantine, and
	// none may be in the mirror yet.
	for _, h := range p.NewCommits {
		if _, err := p.Objects.EncodedObject(plumbing.CommitObject, h); err != nil {
			return nil, fmt.Errorf("new commit %s unreadable: %w", h, err)
		}
		if p.Mirror.Storer.HasEncodedObject(h) == nil {
			return nil, fmt.Errorf("new commit %s already in the mirror", h)
		}
	}
	if c.decide == nil {
		return nil, nil
	}
	return c.decide(p)
}
