package pushcheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/utils/merkletrie"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// renameOptions detect renames, so that a renamed and edited file is
// scanned for the lines the edit adds rather than as a new file.
var renameOptions = &object.DiffTreeOptions{DetectRenames: true, RenameScore: 60, RenameLimit: 500}

// pathChange is a protected path a commit changes.
type pathChange struct {
	from, to string
	action   string
}

// fileJob is a file whose added lines are scanned once, however many
// commits add the same content at the same path.
type fileJob struct {
	path     string
	from, to plumbing.Hash
	commits  []plumbing.Hash
	findings []finding
}

type jobKey struct {
	path     string
	from, to plumbing.Hash
}

// changes lists what the commits change: protected paths per commit, and
// the files to scan.
type changes struct {
	protected map[plumbing.Hash][]pathChange
	jobs      []*fileJob
	// names maps each name a commit's tree adds (files, folders,
	// submodules, by full path) to the commits that add it.
	names map[string][]plumbing.Hash
}

// collect diffs each commit against its first parent (a root commit
// against the empty tree). A merge's change that one of its other parents
// already holds came from that parent, where it was checked or is
// upstream, so it is skipped.
func (c *Checker) collect(ctx context.Context, p *gitgate.Push, commits []plumbing.Hash) (*changes, error) {
	out := &changes{protected: map[plumbing.Hash][]pathChange{}, names: map[string][]plumbing.Hash{}}
	jobs := map[jobKey]*fileJob{}
	for _, h := range commits {
		commit, err := object.GetCommit(p.Objects, h)
		if err != nil {
			return nil, fmt.Errorf("reading commit %s: %w", h, err)
		}
		tree, err := commit.Tree()
		if err != nil {
			return nil, fmt.Errorf("reading tree of commit %s: %w", h, err)
		}
		var parents []*object.Tree
		for _, ph := range commit.ParentHashes {
			pt, err := treeOf(p, ph)
			if err != nil {
				return nil, err
			}
			parents = append(parents, pt)
		}
		var first *object.Tree
		if len(parents) > 0 {
			first = parents[0]
		}
		var added []string
		chs, err := diffTrees(ctx, p, first, tree, "", nil, &added)
		if err != nil {
			return nil, fmt.Errorf("diffing commit %s: %w", h, err)
		}
		for _, name := range added {
			if len(parents) > 1 && inOtherParent(name, parents[1:]) {
				continue
			}
			out.names[name] = append(out.names[name], h)
		}
		if renamed, err := object.DetectRenames(chs, renameOptions); err == nil {
			chs = renamed
		} else {
			// Unusual names (go-git refuses some) or unreadable blobs: keep
			// the renames as a delete and an add, which checks more.
			c.log.Debug("rename detection failed", "commit", h.String(), "err", err)
		}
		for _, ch := range chs {
			if len(parents) > 1 && fromOtherParent(ch, parents[1:]) {
				continue
			}
			if pc, ok := c.protectedChange(ch); ok {
				out.protected[h] = append(out.protected[h], pc)
			}
			if !isFile(ch.To.TreeEntry.Mode) || ch.To.Name == "" {
				continue
			}
			from := plumbing.ZeroHash
			if ch.From.Name != "" && isFile(ch.From.TreeEntry.Mode) {
				from = ch.From.TreeEntry.Hash
			}
			if from == ch.To.TreeEntry.Hash {
				continue // a rename or mode change: no new content
			}
			k := jobKey{ch.To.Name, from, ch.To.TreeEntry.Hash}
			j := jobs[k]
			if j == nil {
				j = &fileJob{path: k.path, from: k.from, to: k.to}
				jobs[k] = j
				out.jobs = append(out.jobs, j)
			}
			j.commits = append(j.commits, h)
		}
	}
	return out, nil
}

// diffTrees appends to out the files that differ between trees a and b
// (either may be nil), named from dir, and to added the full names of
// the entries b has and a does not (files, folders and submodules).
// Unlike go-git's DiffTree, it reads trees by hash and so also walks
// names go-git refuses to look up, such as .git, which an agent can put
// in a tree by hand.
func diffTrees(ctx context.Context, p *gitgate.Push, a, b *object.Tree, dir string, out object.Changes, added *[]string) (object.Changes, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, as, bs, err := entries(a, b)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		ea, eb := as[name], bs[name]
		if ea != nil && eb != nil && ea.Hash == eb.Hash && ea.Mode == eb.Mode {
			continue
		}
		// Names are joined as they are, not cleaned: a hand-made tree can
		// hold names with "/" or "..", and they must be seen as written.
		full := name
		if dir != "" {
			full = dir + "/" + name
		}
		if ea == nil {
			*added = append(*added, full)
		}
		aDir, bDir := ea != nil && ea.Mode == filemode.Dir, eb != nil && eb.Mode == filemode.Dir
		var subA, subB *object.Tree
		if aDir {
			if subA, err = object.GetTree(p.Objects, ea.Hash); err != nil {
				return nil, fmt.Errorf("reading tree %s: %w", ea.Hash, err)
			}
		}
		if bDir {
			if subB, err = object.GetTree(p.Objects, eb.Hash); err != nil {
				return nil, fmt.Errorf("reading tree %s: %w", eb.Hash, err)
			}
		}
		if aDir || bDir {
			if out, err = diffTrees(ctx, p, subA, subB, full, out, added); err != nil {
				return nil, err
			}
		}
		var ch object.Change
		if ea != nil && !aDir {
			ch.From = object.ChangeEntry{Name: full, Tree: a, TreeEntry: *ea}
		}
		if eb != nil && !bDir {
			ch.To = object.ChangeEntry{Name: full, Tree: b, TreeEntry: *eb}
		}
		if ch.From.Name != "" || ch.To.Name != "" {
			out = append(out, &ch)
		}
	}
	return out, nil
}

// entries indexes the entries of a and b by name and returns the names
// of both, sorted. A tree that names an entry twice is refused: the
// shadowed entry's content would go unscanned.
func entries(a, b *object.Tree) ([]string, map[string]*object.TreeEntry, map[string]*object.TreeEntry, error) {
	index := func(t *object.Tree) (map[string]*object.TreeEntry, error) {
		m := map[string]*object.TreeEntry{}
		if t == nil {
			return m, nil
		}
		for i := range t.Entries {
			e := &t.Entries[i]
			if m[e.Name] != nil {
				return nil, fmt.Errorf("tree %s names %q twice", t.Hash, e.Name)
			}
			m[e.Name] = e
		}
		return m, nil
	}
	as, err := index(a)
	if err != nil {
		return nil, nil, nil, err
	}
	bs, err := index(b)
	if err != nil {
		return nil, nil, nil, err
	}
	names := slices.Collect(maps.Keys(as))
	for n := range bs {
		if as[n] == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, as, bs, nil
}

func treeOf(p *gitgate.Push, commit plumbing.Hash) (*object.Tree, error) {
	c, err := object.GetCommit(p.Objects, commit)
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", commit, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("reading tree of commit %s: %w", commit, err)
	}
	return t, nil
}

// protectedChange reports a change to a protected path, by either name.
func (c *Checker) protectedChange(ch *object.Change) (pathChange, bool) {
	from, to := ch.From.Name, ch.To.Name
	if (from == "" || !matchAny(c.protected, from)) && (to == "" || !matchAny(c.protected, to)) {
		return pathChange{}, false
	}
	action := "modified"
	switch a, _ := ch.Action(); {
	case from != "" && to != "" && from != to:
		action = "renamed"
	case a == merkletrie.Insert:
		action = "added"
	case a == merkletrie.Delete:
		action = "deleted"
	}
	return pathChange{from: from, to: to, action: action}, true
}

// fromOtherParent reports whether one of parents has the paths ch
// touches exactly as the merge leaves them.
func fromOtherParent(ch *object.Change, parents []*object.Tree) bool {
	for _, pt := range parents {
		same := ch.To.Name == "" || sameEntry(pt, ch.To.Name, &ch.To.TreeEntry)
		if ch.From.Name != "" && ch.From.Name != ch.To.Name {
			same = same && sameEntry(pt, ch.From.Name, nil)
		}
		if same {
			return true
		}
	}
	return false
}

// inOtherParent reports whether one of parents has an entry at name: the
// merge took the name from it, where it was checked or is upstream.
func inOtherParent(name string, parents []*object.Tree) bool {
	for _, pt := range parents {
		if _, err := pt.FindEntry(name); err == nil {
			return true
		}
	}
	return false
}

// sameEntry reports whether t holds want at path; a nil want means no
// entry. An unreadable or unusual path counts as different.
func sameEntry(t *object.Tree, path string, want *object.TreeEntry) bool {
	e, err := t.FindEntry(path)
	if want == nil {
		return errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound)
	}
	return err == nil && e.Hash == want.Hash && e.Mode == want.Mode
}

// isFile reports whether m is a blob's mode: a file or a symlink, whose
// target is content too. Submodules and trees are not.
func isFile(m filemode.FileMode) bool {
	return m == filemode.Regular || m == filemode.Executable || m == filemode.Deprecated || m == filemode.Symlink
}
