package pushcheck

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// deleted, as an edit's content, removes the file.
const deleted = "\x00<deleted>"

// fixture builds repositories in memory: all holds every object, mirror
// only those published (the upstream's state before the push).
type fixture struct {
	t      testing.TB
	all    *memory.Storage
	mirror *memory.Storage
	repo   *git.Repository
	files  map[plumbing.Hash]map[string]string
	clock  int64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{t: t, all: memory.NewStorage(), mirror: memory.NewStorage(), files: map[plumbing.Hash]map[string]string{}}
	repo, err := git.Init(f.mirror, nil)
	if err != nil {
		t.Fatalf("git.Init: %v", err)
	}
	f.repo = repo
	return f
}

// commit records a commit with exactly files (path to content) and
// returns its hash.
func (f *fixture) commit(parents []plumbing.Hash, files map[string]string) plumbing.Hash {
	f.t.Helper()
	tree := f.tree(files)
	f.clock++
	sig := object.Signature{Name: "agent", Email: "agent@example.com", When: time.Unix(1.7e9+f.clock, 0).UTC()}
	c := &object.Commit{Author: sig, Committer: sig, Message: "change\n", TreeHash: tree, ParentHashes: parents}
	h := f.store(c)
	f.files[h] = files
	return h
}

// edit commits parent's files with edits applied (deleted removes one).
func (f *fixture) edit(parent plumbing.Hash, edits map[string]string) plumbing.Hash {
	f.t.Helper()
	files := map[string]string{}
	var parents []plumbing.Hash
	if !parent.IsZero() {
		parents = []plumbing.Hash{parent}
		maps.Copy(files, f.files[parent])
	}
	for p, c := range edits {
		if c == deleted {
			delete(files, p)
		} else {
			files[p] = c
		}
	}
	return f.commit(parents, files)
}

// tag records an annotated tag of target.
func (f *fixture) tag(name string, target plumbing.Hash, typ plumbing.ObjectType) plumbing.Hash {
	f.t.Helper()
	sig := object.Signature{Name: "agent", Email: "agent@example.com", When: time.Unix(1.7e9, 0).UTC()}
	return f.store(&object.Tag{Name: name, Tagger: sig, Message: "tag\n", TargetType: typ, Target: target})
}

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func (f *fixture) store(o encoder) plumbing.Hash {
	f.t.Helper()
	obj := f.all.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		f.t.Fatalf("encoding object: %v", err)
	}
	h, err := f.all.SetEncodedObject(obj)
	if err != nil {
		f.t.Fatalf("storing object: %v", err)
	}
	return h
}

func (f *fixture) blob(content string) plumbing.Hash {
	f.t.Helper()
	obj := f.all.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		f.t.Fatalf("blob writer: %v", err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		f.t.Fatalf("writing blob: %v", err)
	}
	if err := w.Close(); err != nil {
		f.t.Fatalf("closing blob: %v", err)
	}
	h, err := f.all.SetEncodedObject(obj)
	if err != nil {
		f.t.Fatalf("storing blob: %v", err)
	}
	return h
}

// tree stores the nested trees holding files and returns the root's hash.
func (f *fixture) tree(files map[string]string) plumbing.Hash {
	f.t.Helper()
	subdirs := map[string]map[string]string{}
	var entries []object.TreeEntry
	for p, content := range files {
		dir, rest, nested := strings.Cut(p, "/")
		if nested {
			if subdirs[dir] == nil {
				subdirs[dir] = map[string]string{}
			}
			subdirs[dir][rest] = content
			continue
		}
		entries = append(entries, object.TreeEntry{Name: p, Mode: filemode.Regular, Hash: f.blob(content)})
	}
	for dir, sub := range subdirs {
		entries = append(entries, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: f.tree(sub)})
	}
	// git orders entries by name, a directory's name as if it ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	return f.store(&object.Tree{Entries: entries})
}

// publish copies every object into the mirror: the upstream now has
// them.
func (f *fixture) publish() {
	f.t.Helper()
	iter, err := f.all.IterEncodedObjects(plumbing.AnyObject)
	if err != nil {
		f.t.Fatalf("iterating objects: %v", err)
	}
	err = iter.ForEach(func(o plumbing.EncodedObject) error {
		_, err := f.mirror.SetEncodedObject(o)
		return err
	})
	if err != nil {
		f.t.Fatalf("publishing: %v", err)
	}
}

// push returns the push of cmds, with NewCommits computed as the server
// does: the commits reachable from the new values that the mirror lacks.
func (f *fixture) push(cmds ...gitgate.Command) *gitgate.Push {
	f.t.Helper()
	p := &gitgate.Push{
		Repo: "proj", Commands: cmds, PackBytes: 4096, Objects: f.all, Mirror: f.repo,
		DefaultBranch: plumbing.NewBranchReferenceName("main"),
	}
	seen := map[plumbing.Hash]bool{}
	for _, c := range cmds {
		if c.Delete() {
			continue
		}
		stack := []plumbing.Hash{f.peel(c.New)}
		for len(stack) > 0 {
			h := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[h] || f.mirror.HasEncodedObject(h) == nil {
				continue
			}
			seen[h] = true
			c, err := object.GetCommit(f.all, h)
			if err != nil {
				continue // not a commit
			}
			p.NewCommits = append(p.NewCommits, h)
			stack = append(stack, c.ParentHashes...)
		}
	}
	return p
}

func (f *fixture) peel(h plumbing.Hash) plumbing.Hash {
	for {
		t, err := object.GetTag(f.all, h)
		if err != nil {
			return h
		}
		h = t.Target
	}
}

var _ storer.EncodedObjectStorer = (*memory.Storage)(nil)

// Commands.
func create(branch string, h plumbing.Hash) gitgate.Command {
	return gitgate.Command{Name: refName(branch), New: h}
}

func update(branch string, old, h plumbing.Hash) gitgate.Command {
	return gitgate.Command{Name: refName(branch), Old: old, New: h}
}

func del(branch string, old plumbing.Hash) gitgate.Command {
	return gitgate.Command{Name: refName(branch), Old: old}
}

// refName takes "x" for a branch, or a full ref name.
func refName(s string) plumbing.ReferenceName {
	if strings.HasPrefix(s, "refs/") {
		return plumbing.ReferenceName(s)
	}
	return plumbing.NewBranchReferenceName(s)
}

// fakeAWSKey builds an access key ID of the shape gitleaks'
// aws-access-token rule matches; no literal in this file has that shape.
func fakeAWSKey(seed uint64) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	r := rand.New(rand.NewPCG(seed, 7))
	b := []byte("AK" + "IA")
	for range 16 {
		b = append(b, alphabet[r.IntN(len(alphabet))])
	}
	return string(b)
}

// lines returns numbered lines from to to of harmless text, each ending
// in "\n".
func lines(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "total_%d = compute(%d)\n", i, i)
	}
	return b.String()
}

var (
	sharedDetector     *Detector
	sharedDetectorErr  error
	sharedDetectorOnce sync.Once
)

// detector returns one Detector for all tests, as the sidecar shares one.
func detector(t testing.TB) *Detector {
	t.Helper()
	sharedDetectorOnce.Do(func() { sharedDetector, sharedDetectorErr = NewDetector() })
	if sharedDetectorErr != nil {
		t.Fatalf("NewDetector: %v", sharedDetectorErr)
	}
	return sharedDetector
}

func newChecker(t testing.TB, cfg Config) *Checker {
	t.Helper()
	cfg.Detector = detector(t)
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func check(t testing.TB, c *Checker, p *gitgate.Push) []gitgate.Rejection {
	t.Helper()
	rejs, err := c.Check(context.Background(), p)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return rejs
}
