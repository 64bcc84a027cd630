package gitgate

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// quarantine holds a pushed pack's objects in memory, layered over the
// mirror's objects: reads fall through to the mirror, which resolves the
// bases of a thin pack, and writes stay in memory until promote.
//
// Security: nothing is written to the mirror before promote, which the
// receive path calls only for objects of accepted commands.
type quarantine struct {
	mem  *memory.ObjectStorage
	base storer.EncodedObjectStorer
	// size is the inflated size of the objects in mem; limit caps it, as
	// a small pack can inflate to a lot of memory.
	size, limit int64
}

var _ storer.EncodedObjectStorer = (*quarantine)(nil)

func newQuarantine(base storer.EncodedObjectStorer, limit int64) *quarantine {
	return &quarantine{mem: &memory.NewStorage().ObjectStorage, base: base, limit: limit}
}

func (q *quarantine) NewEncodedObject() plumbing.EncodedObject { return &plumbing.MemoryObject{} }

func (q *quarantine) SetEncodedObject(o plumbing.EncodedObject) (plumbing.Hash, error) {
	q.size += o.Size()
	if q.size > q.limit {
		return plumbing.ZeroHash, errTooLarge
	}
	return q.mem.SetEncodedObject(o)
}

func (q *quarantine) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := q.mem.EncodedObject(t, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return q.base.EncodedObject(t, h)
	}
	return o, err
}

func (q *quarantine) IterEncodedObjects(t plumbing.ObjectType) (storer.EncodedObjectIter, error) {
	mi, err := q.mem.IterEncodedObjects(t)
	if err != nil {
		return nil, err
	}
	bi, err := q.base.IterEncodedObjects(t)
	if err != nil {
		mi.Close()
		return nil, err
	}
	return storer.NewMultiEncodedObjectIter([]storer.EncodedObjectIter{mi, bi}), nil
}

func (q *quarantine) HasEncodedObject(h plumbing.Hash) error {
	if q.mem.HasEncodedObject(h) == nil {
		return nil
	}
	return q.base.HasEncodedObject(h)
}

func (q *quarantine) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	sz, err := q.mem.EncodedObjectSize(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return q.base.EncodedObjectSize(h)
	}
	return sz, err
}

func (q *quarantine) AddAlternate(string) error { return errors.New("quarantine: no alternates") }

// unpack parses the pack from r into the quarantine.
func (q *quarantine) unpack(r io.Reader) error {
	p, err := packfile.NewParserWithStorage(packfile.NewScanner(r), q)
	if err != nil {
		return err
	}
	_, err = p.Parse()
	return err
}

// errMissing reports a push whose history is incomplete.
var errMissing = errors.New("missing necessary objects")

// newObjects walks from tip and returns the objects, and among them the
// commits, that are in the quarantine and not in the mirror, in walk
// order. The walk stops at objects the mirror holds, which are complete.
// It fails with errMissing when an object is in neither, because the
// ref would then name a broken history.
func (q *quarantine) newObjects(tip plumbing.Hash) (objs, commits []plumbing.Hash, err error) {
	seen := map[plumbing.Hash]bool{}
	stack := []plumbing.Hash{tip}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		if q.base.HasEncodedObject(h) == nil {
			continue
		}
		o, err := q.mem.EncodedObject(plumbing.AnyObject, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return nil, nil, fmt.Errorf("%w: %s", errMissing, h)
		}
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, h)
		switch o.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(q, o)
			if err != nil {
				return nil, nil, fmt.Errorf("decoding commit %s: %w", h, err)
			}
			commits = append(commits, h)
			// Parents last on the stack, so that the first parent is
			// walked first and commits come out newest first.
			stack = append(stack, c.TreeHash)
			for _, p := range slices.Backward(c.ParentHashes) {
				stack = append(stack, p)
			}
		case plumbing.TreeObject:
			t, err := object.DecodeTree(q, o)
			if err != nil {
				return nil, nil, fmt.Errorf("decoding tree %s: %w", h, err)
			}
			for _, e := range t.Entries {
				if e.Mode != filemode.Submodule {
					stack = append(stack, e.Hash)
				}
			}
		case plumbing.TagObject:
			t, err := object.DecodeTag(q, o)
			if err != nil {
				return nil, nil, fmt.Errorf("decoding tag %s: %w", h, err)
			}
			stack = append(stack, t.Target)
		case plumbing.BlobObject:
		default:
			return nil, nil, fmt.Errorf("object %s has unexpected type %s", h, o.Type())
		}
	}
	return objs, commits, nil
}

// promote writes objects from the quarantine into the mirror as one pack.
// Without delta compression: it is five to ten times faster, and the
// packs the gate serves are re-deltified anyway.
func (q *quarantine) promote(mirror storer.Storer, objs []plumbing.Hash) (err error) {
	if len(objs) == 0 {
		return nil
	}
	pw, ok := mirror.(storer.PackfileWriter)
	if !ok {
		return errors.New("mirror storer cannot write packs")
	}
	w, err := pw.PackfileWriter()
	if err != nil {
		return err
	}
	defer func() {
		// Closing an incomplete pack discards it; closing a complete one
		// writes its index.
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = packfile.NewEncoder(w, q, false).Encode(objs, 0)
	return err
}

// isForce reports whether an update is forced: New does not descend from
// Old. Creates and deletes are not forced; an update of a non-commit (an
// annotated tag moved to another tag) always is.
func isForce(st storer.EncodedObjectStorer, c Command) (bool, error) {
	if c.Old.IsZero() || c.New.IsZero() || c.Old == c.New {
		return false, nil
	}
	oldC, err := object.GetCommit(st, c.Old)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	newC, err := object.GetCommit(st, c.New)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	anc, err := oldC.IsAncestor(newC)
	return !anc, err
}
