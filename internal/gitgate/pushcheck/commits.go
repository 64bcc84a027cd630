package pushcheck

import (
	"fmt"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// maxTagDepth bounds a chain of tags pointing at tags.
const maxTagDepth = 16

// walk says which commands push which new commits.
type walk struct {
	// refs maps each commit a command's new value reaches, short of the
	// mirror's commits, to those commands (indexes in Push.Commands).
	refs map[plumbing.Hash][]int
	// extra are commits refs holds that Push.NewCommits lacks.
	extra []plumbing.Hash
	// nonCommits refuse commands whose new value is not a commit, such
	// as a tag of a blob: its content would reach the upstream unscanned.
	nonCommits []gitgate.Rejection
	// order holds the commits of refs, parents before children, the
	// order in which the agent made them.
	order []plumbing.Hash
	// tags maps each annotated tag a command's new value passes through,
	// short of the mirror's tags, to those commands.
	tags map[plumbing.Hash][]int
	// tagOrder holds the tags of tags in the order first met.
	tagOrder []plumbing.Hash
}

// attribute walks from each command's new value (through annotated
// tags) down the history, stopping at commits the mirror has.
func attribute(p *gitgate.Push) (*walk, error) {
	w := &walk{refs: map[plumbing.Hash][]int{}, tags: map[plumbing.Hash][]int{}}
	news := make(map[plumbing.Hash]bool, len(p.NewCommits))
	for _, h := range p.NewCommits {
		news[h] = true
	}
	cache := map[plumbing.Hash]*object.Commit{}
	for i, cmd := range p.Commands {
		if cmd.Delete() {
			continue
		}
		tip, ok, tags, err := peel(p, cmd.New)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			if mirrorHas(p, t) || slices.Contains(w.tags[t], i) {
				continue
			}
			if _, known := w.tags[t]; !known {
				w.tagOrder = append(w.tagOrder, t)
			}
			w.tags[t] = append(w.tags[t], i)
		}
		if !ok {
			reason := "the ref does not point to a commit"
			w.nonCommits = append(w.nonCommits, gitgate.Rejection{Ref: cmd.Name, Rule: RuleRef, Reason: reason,
				Detail: []string{prefix + fmt.Sprintf("%s: %s; the gate accepts only commits and tags of commits.", cmd.Name, reason)}})
			continue
		}
		seen := map[plumbing.Hash]bool{}
		stack := []plumbing.Hash{tip}
		for len(stack) > 0 {
			h := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[h] || mirrorHas(p, h) {
				continue
			}
			seen[h] = true
			if _, known := w.refs[h]; !known {
				w.order = append(w.order, h)
				if !news[h] {
					w.extra = append(w.extra, h)
				}
			}
			w.refs[h] = append(w.refs[h], i)
			c, err := getCommit(p, cache, h)
			if err != nil {
				return nil, err
			}
			stack = append(stack, c.ParentHashes...)
		}
	}
	w.order = historyOrder(w.order, cache)
	return w, nil
}

// historyOrder sorts commits, parents first; commits holds each parent
// it names that is not in the mirror.
func historyOrder(commits []plumbing.Hash, cache map[plumbing.Hash]*object.Commit) []plumbing.Hash {
	type frame struct {
		h    plumbing.Hash
		next int
	}
	done := make(map[plumbing.Hash]bool, len(commits))
	out := make([]plumbing.Hash, 0, len(commits))
	for _, root := range commits {
		stack := []frame{{h: root}}
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if done[top.h] {
				stack = stack[:len(stack)-1]
				continue
			}
			if ps := cache[top.h].ParentHashes; top.next < len(ps) {
				p := ps[top.next]
				top.next++
				if _, ours := cache[p]; ours && !done[p] {
					stack = append(stack, frame{h: p})
				}
				continue
			}
			done[top.h] = true
			out = append(out, top.h)
			stack = stack[:len(stack)-1]
		}
	}
	return out
}

// peel follows annotated tags from h to the object they tag, and reports
// whether that is a commit, and the tags it passed through.
func peel(p *gitgate.Push, h plumbing.Hash) (plumbing.Hash, bool, []plumbing.Hash, error) {
	var tags []plumbing.Hash
	for range maxTagDepth {
		o, err := p.Objects.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return h, false, tags, fmt.Errorf("reading object %s: %w", h, err)
		}
		switch o.Type() {
		case plumbing.CommitObject:
			return h, true, tags, nil
		case plumbing.TagObject:
			t, err := object.DecodeTag(p.Objects, o)
			if err != nil {
				return h, false, tags, fmt.Errorf("decoding tag %s: %w", h, err)
			}
			tags = append(tags, h)
			h = t.Target
		default:
			return h, false, tags, nil
		}
	}
	return h, false, tags, nil
}

func getCommit(p *gitgate.Push, cache map[plumbing.Hash]*object.Commit, h plumbing.Hash) (*object.Commit, error) {
	if c, ok := cache[h]; ok {
		return c, nil
	}
	c, err := object.GetCommit(p.Objects, h)
	if err != nil {
		return nil, fmt.Errorf("reading commit %s: %w", h, err)
	}
	cache[h] = c
	return c, nil
}

// mirrorHas reports whether the mirror holds object h: such a commit is
// already upstream, and so is its history.
func mirrorHas(p *gitgate.Push, h plumbing.Hash) bool {
	if p.Mirror == nil {
		return false
	}
	return p.Mirror.Storer.HasEncodedObject(h) == nil
}

// tagsOf returns the new tags command i pushes.
func (w *walk) tagsOf(i int) []plumbing.Hash {
	var out []plumbing.Hash
	for _, h := range w.tagOrder {
		if slices.Contains(w.tags[h], i) {
			out = append(out, h)
		}
	}
	return out
}

// commitsOf returns the commits, oldest first, that command i pushes.
func (w *walk) commitsOf(i int) []plumbing.Hash {
	var out []plumbing.Hash
	for _, h := range w.order {
		if slices.Contains(w.refs[h], i) {
			out = append(out, h)
		}
	}
	return out
}
