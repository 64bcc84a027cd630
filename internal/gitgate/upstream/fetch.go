package upstream

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// agent is what the gate calls itself to the upstream.
const agent = "agent=bot-bottle-gitgate"

// Fetch implements gitgate.Upstream. It mirrors the upstream's branches
// and tags as +refs/heads/*:refs/heads/* and +refs/tags/*:refs/tags/*
// with pruning, and points HEAD at the upstream's default branch. An
// empty upstream, or one with nothing new, is success.
func (u *SSH) Fetch(ctx context.Context, mirror *git.Repository) error {
	if err := u.fetch(ctx, mirror.Storer); err != nil {
		return fmt.Errorf("repo %s: %w", u.cfg.Repo, err)
	}
	return nil
}

func (u *SSH) fetch(ctx context.Context, st storage.Storer) error {
	c, err := u.open(ctx, uploadPack, nil)
	if err != nil {
		return err
	}
	defer c.close()
	ar, err := c.advertisement()
	if err != nil {
		return err
	}
	refs, err := mirrored(ar)
	if err != nil {
		return err
	}

	var wants []plumbing.Hash
	for _, h := range refs {
		if st.HasEncodedObject(h) != nil && !slices.Contains(wants, h) {
			wants = append(wants, h)
		}
	}
	if len(wants) == 0 {
		// Up to date: a lone flush ends upload-pack cleanly.
		if err := c.flush(); err != nil {
			return c.fail("ending the session", err)
		}
		if err := c.send(); err != nil {
			return c.fail("ending the session", err)
		}
	} else if err := c.fetchPack(st, ar.Capabilities, wants, haves(st)); err != nil {
		return err
	}
	if err := c.wait(); err != nil {
		return err
	}

	if err := updateRefs(st, refs); err != nil {
		return fmt.Errorf("updating the mirror's refs: %w", err)
	}
	if head := defaultBranch(ar, refs); head != "" {
		if err := st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, head)); err != nil {
			return fmt.Errorf("pointing the mirror's HEAD at %s: %w", head, err)
		}
	}
	return nil
}

// mirrored returns the advertised branches and tags (peeled values
// aside, which AdvRefs keeps apart).
//
// Security: a name that is not a valid ref is refused before it can
// become a path in the mirror.
func mirrored(ar *packp.AdvRefs) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	refs := map[plumbing.ReferenceName]plumbing.Hash{}
	for name, h := range ar.References {
		n := plumbing.ReferenceName(name)
		if !n.IsBranch() && !n.IsTag() {
			continue
		}
		if n.Validate() != nil || !n.IsSafe() {
			return nil, fmt.Errorf("upstream advertised an invalid ref name %q", name)
		}
		refs[n] = h
	}
	return refs, nil
}

// haves lists the objects the mirror's refs point at, to tell the
// upstream what not to send.
func haves(st storage.Storer) []plumbing.Hash {
	var hs []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	iter, err := st.IterReferences()
	if err != nil {
		return nil // a full pack instead of an incremental one
	}
	_ = iter.ForEach(func(r *plumbing.Reference) error {
		h := r.Hash()
		if r.Type() == plumbing.HashReference && !seen[h] && st.HasEncodedObject(h) == nil {
			seen[h] = true
			hs = append(hs, h)
		}
		return nil
	})
	return hs
}

// fetchPack asks for wants, telling haves, and stores the pack.
//
// It negotiates in one round without multi_ack: every have, then done.
// upload-pack then answers one ACK (a common object found) or NAK and
// sends the pack. No thin-pack: go-git's pack storage cannot complete a
// thin pack's bases from the repository.
func (c *conn) fetchPack(st storage.Storer, adv *capability.List, wants, haves []plumbing.Hash) error {
	var caps []string
	band := sideband.Type(-1)
	switch {
	case adv.Supports(capability.Sideband64k):
		caps, band = append(caps, string(capability.Sideband64k)), sideband.Sideband64k
	case adv.Supports(capability.Sideband):
		caps, band = append(caps, string(capability.Sideband)), sideband.Sideband
	}
	for _, cp := range []capability.Capability{capability.OFSDelta, capability.NoProgress} {
		if adv.Supports(cp) {
			caps = append(caps, string(cp))
		}
	}
	if adv.Supports(capability.Agent) {
		caps = append(caps, agent)
	}

	e := pktline.NewEncoder(c.in)
	for i, h := range wants {
		line := "want " + h.String()
		if i == 0 {
			line += " " + strings.Join(caps, " ")
		}
		if err := e.EncodeString(line + "\n"); err != nil {
			return c.fail("sending wants", err)
		}
	}
	if err := e.Flush(); err != nil {
		return c.fail("sending wants", err)
	}
	for _, h := range haves {
		if err := e.EncodeString("have " + h.String() + "\n"); err != nil {
			return c.fail("sending haves", err)
		}
	}
	if err := e.EncodeString("done\n"); err != nil {
		return c.fail("sending haves", err)
	}
	if err := c.send(); err != nil {
		return c.fail("sending the request", err)
	}

	// Without multi_ack, upload-pack answers NAK, or ACK for the first
	// common have and again for each later have it already knew (an
	// ancestor of an earlier one), so several ACK lines may come before
	// the pack.
	r := bufio.NewReader(c.stdout)
	s := pktline.NewScanner(r)
	if !s.Scan() {
		return c.fail("reading the negotiation", cmp.Or(s.Err(), io.ErrUnexpectedEOF))
	}
	if l := s.Bytes(); !bytes.HasPrefix(l, []byte("NAK")) && !bytes.HasPrefix(l, []byte("ACK ")) {
		return c.fail("reading the negotiation", fmt.Errorf("unexpected %q", l))
	}
	for {
		if head, err := r.Peek(8); err != nil || string(head[4:]) != "ACK " {
			break
		}
		if !s.Scan() {
			return c.fail("reading the negotiation", cmp.Or(s.Err(), io.ErrUnexpectedEOF))
		}
	}
	var pack io.Reader = r
	if band >= 0 {
		pack = sideband.NewDemuxer(band, r) // progress dropped: nobody watches a refresh
	}
	if err := packfile.UpdateObjectStorage(st, pack); err != nil {
		return c.fail("receiving the pack", err)
	}
	for _, h := range wants {
		if st.HasEncodedObject(h) != nil {
			return fmt.Errorf("the upstream's pack lacks %s", h)
		}
	}
	return nil
}

// updateRefs sets every mirrored ref to the upstream's value, forced, and
// removes the branches and tags the upstream no longer has.
func updateRefs(st storer.ReferenceStorer, refs map[plumbing.ReferenceName]plumbing.Hash) error {
	for n, h := range refs {
		if cur, err := st.Reference(n); err == nil && cur.Type() == plumbing.HashReference && cur.Hash() == h {
			continue
		}
		if err := st.SetReference(plumbing.NewHashReference(n, h)); err != nil {
			return err
		}
	}
	iter, err := st.IterReferences()
	if err != nil {
		return err
	}
	var gone []plumbing.ReferenceName
	err = iter.ForEach(func(r *plumbing.Reference) error {
		n := r.Name()
		if _, ok := refs[n]; !ok && (n.IsBranch() || n.IsTag()) {
			gone = append(gone, n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range gone {
		if err := st.RemoveReference(n); err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return err
		}
	}
	return nil
}

// defaultBranch returns the branch the upstream's HEAD names: from the
// symref capability, or else the branch at HEAD's value (main, then
// master, then the first by name). It is "" when HEAD is not advertised,
// as for an empty upstream.
func defaultBranch(ar *packp.AdvRefs, refs map[plumbing.ReferenceName]plumbing.Hash) plumbing.ReferenceName {
	for _, v := range ar.Capabilities.Get(capability.SymRef) {
		if src, dst, ok := strings.Cut(v, ":"); ok && src == "HEAD" {
			if n := plumbing.ReferenceName(dst); n.IsBranch() {
				if _, ok := refs[n]; ok {
					return n
				}
			}
		}
	}
	if ar.Head == nil {
		return ""
	}
	var at []plumbing.ReferenceName
	for n, h := range refs {
		if n.IsBranch() && h == *ar.Head {
			at = append(at, n)
		}
	}
	rank := func(n plumbing.ReferenceName) int {
		switch n {
		case plumbing.Main:
			return 0
		case plumbing.Master:
			return 1
		default:
			return 2
		}
	}
	slices.SortFunc(at, func(a, b plumbing.ReferenceName) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(string(a), string(b)))
	})
	if len(at) == 0 {
		return ""
	}
	return at[0]
}
