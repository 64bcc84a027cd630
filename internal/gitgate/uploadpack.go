package gitgate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// packWindow is the delta window of the packs the gate sends. go-git does
// not reuse the deltas already on disk, so without a window a clone is
// about four times larger; 10 is git's default.
const packWindow = 10

// maxFetchRequestBytes bounds a git-upload-pack request once decompressed.
const maxFetchRequestBytes = 64 << 20

// uploadPack answers POST NAME/git-upload-pack: one round of the stateless
// multi_ack_detailed negotiation, and the pack once the client is done.
func (s *Server) uploadPack(w http.ResponseWriter, r *http.Request, m *mirror) {
	body, err := requestBody(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	defer body.Close() //nolint:errcheck // closing a request body reader cannot fail usefully
	req, err := readFetchRequest(io.LimitReader(body, maxFetchRequestBytes))
	if err != nil {
		httpError(w, http.StatusBadRequest, "git-upload-pack request: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
	w.Header().Set("Cache-Control", "no-cache")
	if len(req.wants) == 0 {
		// The probe before a large chunked request: nothing to say.
		return
	}
	enc := pktline.NewEncoder(w)

	m.mu.RLock()
	defer m.mu.RUnlock()
	repo, err := m.open(false)
	if err != nil {
		s.log.Error("opening mirror", "repo", m.Name, "err", err)
		s.errLine(enc, "gate mirror unavailable")
		return
	}
	ours, err := m.wantable(repo)
	if err != nil {
		s.log.Error("listing mirror refs", "repo", m.Name, "err", err)
		s.errLine(enc, "gate mirror unreadable")
		return
	}
	for _, h := range req.wants {
		if !ours[h] {
			// Security: only advertised values are served, as git does
			// by default; the mirror may hold objects no ref reaches.
			s.audit(Event{Repo: m.Name, Op: OpFetch, Decision: DecisionRefuse, Rule: "not-our-ref", Detail: h.String()})
			s.errLine(enc, "upload-pack: not our ref "+h.String())
			return
		}
	}

	var acks bytes.Buffer
	n := newNegotiator(repo.Storer, req.wants)
	n.negotiate(pktline.NewEncoder(&acks), req.haves, req.done)
	if _, err := w.Write(acks.Bytes()); err != nil || !req.done {
		return
	}

	start := time.Now()
	objects, err := s.sendPack(w, repo.Storer, req, n.common)
	if err != nil {
		s.log.Warn("sending pack", "repo", m.Name, "err", err)
		s.audit(Event{Repo: m.Name, Op: OpFetch, Decision: DecisionRefuse, Rule: "gate-error", Detail: err.Error()})
		return
	}
	s.log.Info("fetch", "repo", m.Name, "wants", len(req.wants), "common", len(n.common), "objects", objects, "duration", time.Since(start))
	s.audit(Event{Repo: m.Name, Op: OpFetch, Decision: DecisionAllow, Detail: fmt.Sprintf("%d wants, %d objects", len(req.wants), objects)})
}

// sendPack sends the objects reachable from the wants and not from the
// common commits, multiplexed on side-band-64k when the client asked.
func (s *Server) sendPack(w io.Writer, st storer.EncodedObjectStorer, req *fetchRequest, common []plumbing.Hash) (int, error) {
	out := w
	var mux *sideband.Muxer
	if req.caps.has(capSideBand64k) {
		mux = sideband.NewMuxer(sideband.Sideband64k, w)
		out = mux
	}
	fail := func(err error) (int, error) {
		if mux != nil {
			// Git prints channel 3 as "remote error: ..." and stops.
			_, _ = mux.WriteChannel(sideband.ErrorMessage, []byte("gate: building the pack failed\n"))
		}
		return 0, err
	}
	// The O(history) part of a fetch: revlist walks everything reachable
	// from the common commits to know what not to send.
	hashes, err := revlist.Objects(st, req.wants, common)
	if err != nil {
		return fail(fmt.Errorf("listing objects: %w", err))
	}
	enc := packfile.NewEncoder(out, st, !req.caps.has(capOfsDelta))
	if _, err := enc.Encode(hashes, packWindow); err != nil {
		return fail(fmt.Errorf("encoding pack: %w", err))
	}
	if mux != nil {
		if err := pktline.NewEncoder(w).Flush(); err != nil {
			return 0, err
		}
	}
	return len(hashes), nil
}

// negotiator answers the haves of one stateless request the way git's
// upload-pack does with multi_ack_detailed.
type negotiator struct {
	st    storer.EncodedObjectStorer
	wants []plumbing.Hash

	// theyHave holds the commits the client has: its haves that the
	// mirror holds, and their parents.
	theyHave map[plumbing.Hash]bool
	// common lists the haves the mirror holds, in order.
	common []plumbing.Hash
	// oldest is the oldest committer time among common: walks from the
	// wants stop there.
	oldest time.Time

	// ready caches okToGiveUp; readyFor is len(common) when it was
	// computed, as the answer only changes when common grows.
	ready    bool
	readyFor int
}

func newNegotiator(st storer.EncodedObjectStorer, wants []plumbing.Hash) *negotiator {
	return &negotiator{st: st, wants: wants, theyHave: map[plumbing.Hash]bool{}, readyFor: -1}
}

// negotiate writes ACK and NAK lines for haves: "ACK X common" for each
// have the mirror holds, "ACK X ready" once every want is reachable from
// them, then NAK to end the round, or the final ACK (or NAK when nothing
// is common) when the client is done.
func (n *negotiator) negotiate(enc *pktline.Encoder, haves []plumbing.Hash, done bool) {
	var last plumbing.Hash
	gotCommon, gotOther := false, false
	for _, h := range haves {
		if !n.have(h) {
			gotOther = true
			if n.okToGiveUp() {
				_ = enc.Encodef("ACK %s ready\n", h)
			}
			continue
		}
		gotCommon, last = true, h
		_ = enc.Encodef("ACK %s common\n", h)
	}
	if done {
		if gotCommon {
			_ = enc.Encodef("ACK %s\n", last)
		} else {
			_ = enc.EncodeString("NAK\n")
		}
		return
	}
	if gotCommon && !gotOther && n.okToGiveUp() {
		_ = enc.Encodef("ACK %s ready\n", last)
	}
	_ = enc.EncodeString("NAK\n")
}

// have records a have and reports whether the mirror holds it.
func (n *negotiator) have(h plumbing.Hash) bool {
	if n.st.HasEncodedObject(h) != nil {
		return false
	}
	if n.theyHave[h] {
		return true
	}
	n.theyHave[h] = true
	n.common = append(n.common, h)
	if c, err := object.GetCommit(n.st, h); err == nil {
		if n.oldest.IsZero() || c.Committer.When.Before(n.oldest) {
			n.oldest = c.Committer.When
		}
		for _, p := range c.ParentHashes {
			n.theyHave[p] = true
		}
	}
	return true
}

// okToGiveUp reports whether every want is reachable from a commit the
// client has, so that the client can stop sending haves.
func (n *negotiator) okToGiveUp() bool {
	if n.readyFor == len(n.common) {
		return n.ready
	}
	n.readyFor = len(n.common)
	n.ready = len(n.common) > 0
	for _, w := range n.wants {
		if !n.ready {
			break
		}
		n.ready = n.reachable(w)
	}
	return n.ready
}

// reachable reports whether want is, or descends from, a commit the
// client has, walking no further back than the oldest common commit.
// Wants that are not commits count as reachable, as in git.
func (n *negotiator) reachable(want plumbing.Hash) bool {
	h, _, err := peel(n.st, want)
	if err != nil {
		return false
	}
	c, err := object.GetCommit(n.st, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		o, oerr := n.st.EncodedObject(plumbing.AnyObject, h)
		return oerr == nil && o.Type() != plumbing.CommitObject
	}
	if err != nil {
		return false
	}
	seen := map[plumbing.Hash]bool{}
	stack := []*object.Commit{c}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.theyHave[c.Hash] {
			return true
		}
		if seen[c.Hash] || c.Committer.When.Before(n.oldest) {
			continue
		}
		seen[c.Hash] = true
		for _, p := range c.ParentHashes {
			if n.theyHave[p] {
				return true
			}
			if pc, err := object.GetCommit(n.st, p); err == nil {
				stack = append(stack, pc)
			}
		}
	}
	return false
}
