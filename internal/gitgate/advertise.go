package gitgate

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Capabilities. Shallow, filter, include-tag and thin-pack are absent on
// purpose: the pack code supports none of them.
const (
	capMultiAckDetailed = "multi_ack_detailed"
	capSideBand64k      = "side-band-64k"
	capOfsDelta         = "ofs-delta"
	capNoProgress       = "no-progress"
	capReportStatus     = "report-status"
	capDeleteRefs       = "delete-refs"
	capQuiet            = "quiet"
	capAtomic           = "atomic"
	capPushOptions      = "push-options"
	capAgent            = "agent=bot-bottle-gitgate"
)

var (
	uploadCaps  = []string{capMultiAckDetailed, capSideBand64k, capOfsDelta, capNoProgress, capAgent}
	receiveCaps = []string{capReportStatus, capDeleteRefs, capSideBand64k, capQuiet, capAtomic, capPushOptions, capOfsDelta, capAgent}
)

// advertise answers GET NAME/info/refs: it refreshes the mirror from the
// upstream and advertises the mirror's refs.
func (s *Server) advertise(w http.ResponseWriter, r *http.Request, m *mirror, service string) {
	op := OpFetch
	if service == serviceReceive {
		op = OpPush
	}
	w.Header().Set("Content-Type", "application/x-"+service+"-advertisement")
	w.Header().Set("Cache-Control", "no-cache")
	enc := pktline.NewEncoder(w)
	if err := enc.EncodeString("# service=" + service + "\n"); err != nil {
		return
	}
	if err := enc.Flush(); err != nil {
		return
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	repo, err := m.open(true)
	if err != nil {
		s.log.Error("opening mirror", "repo", m.Name, "err", err)
		s.errLine(enc, "gate mirror unavailable")
		return
	}
	if err := m.Upstream.Fetch(r.Context(), repo); err != nil {
		s.log.Warn("upstream fetch failed", "repo", m.Name, "op", op, "err", err)
		s.audit(Event{Repo: m.Name, Op: op, Decision: DecisionRefuse, Rule: "upstream-fetch-failed", Detail: err.Error()})
		s.errLine(enc, "upstream fetch failed: "+oneLine(err.Error()))
		return
	}
	// A fresh handle: Fetch may have added packs the first one's cached
	// index does not know.
	if repo, err = m.open(false); err != nil {
		s.log.Error("opening mirror", "repo", m.Name, "err", err)
		s.errLine(enc, "gate mirror unavailable")
		return
	}
	refs, err := listRefs(repo, service == serviceUpload)
	if err != nil {
		s.log.Error("listing mirror refs", "repo", m.Name, "err", err)
		s.errLine(enc, "gate mirror unreadable")
		return
	}
	caps := receiveCaps
	if service == serviceUpload {
		m.remember(refs.lines, time.Now())
		caps = uploadCaps
		if refs.headTarget != "" {
			caps = append(slices.Clip(caps), "symref=HEAD:"+refs.headTarget.String())
		}
	}
	if err := writeAdvertisement(enc, refs.lines, caps); err != nil {
		s.log.Debug("writing advertisement", "repo", m.Name, "err", err)
	}
}

// errLine sends an ERR pkt-line, which git shows as "fatal: remote error:
// MSG" and stops on.
func (s *Server) errLine(enc *pktline.Encoder, msg string) {
	if err := enc.EncodeString("ERR " + msg + "\n"); err != nil {
		s.log.Debug("writing ERR line", "err", err)
	}
}

// oneLine folds text into one line for a pkt-line or a report-status
// reason.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == 0 {
			return ' '
		}
		return r
	}, s)
	const maxLen = 1000
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return s
}

// refLine is one advertised ref.
type refLine struct {
	name string
	hash plumbing.Hash
}

type refList struct {
	lines []refLine
	// headTarget is the branch HEAD points to, when it exists.
	headTarget plumbing.ReferenceName
}

// listRefs lists the mirror's refs under refs/, sorted. For upload-pack,
// it starts with HEAD when HEAD resolves and adds the peeled value
// (NAME^{}) after each annotated tag, which git uses to follow tags.
func listRefs(repo *git.Repository, upload bool) (refList, error) {
	var out refList
	iter, err := repo.Storer.IterReferences()
	if err != nil {
		return out, err
	}
	var refs []*plumbing.Reference
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && strings.HasPrefix(r.Name().String(), "refs/") {
			refs = append(refs, r)
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	slices.SortFunc(refs, func(a, b *plumbing.Reference) int { return strings.Compare(a.Name().String(), b.Name().String()) })

	if upload {
		if head, err := repo.Storer.Reference(plumbing.HEAD); err == nil {
			switch head.Type() {
			case plumbing.SymbolicReference:
				if t, err := repo.Storer.Reference(head.Target()); err == nil && t.Type() == plumbing.HashReference {
					out.headTarget = head.Target()
					out.lines = append(out.lines, refLine{"HEAD", t.Hash()})
				}
			case plumbing.HashReference:
				out.lines = append(out.lines, refLine{"HEAD", head.Hash()})
			case plumbing.InvalidReference:
			}
		}
	}
	for _, r := range refs {
		out.lines = append(out.lines, refLine{r.Name().String(), r.Hash()})
		if !upload {
			continue
		}
		peeled, isTag, err := peel(repo.Storer, r.Hash())
		if err != nil {
			return out, fmt.Errorf("peeling %s: %w", r.Name(), err)
		}
		if isTag {
			out.lines = append(out.lines, refLine{r.Name().String() + "^{}", peeled})
		}
	}
	return out, nil
}

// peel follows annotated tags from h to the object they finally name.
func peel(s storer.EncodedObjectStorer, h plumbing.Hash) (plumbing.Hash, bool, error) {
	isTag := false
	// Tags of tags are rare; the bound only stops a cycle a hash
	// collision could make.
	for range 100 {
		o, err := s.EncodedObject(plumbing.AnyObject, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) && isTag {
			return h, true, nil
		}
		if err != nil {
			return h, isTag, err
		}
		if o.Type() != plumbing.TagObject {
			return h, isTag, nil
		}
		t, err := object.DecodeTag(s, o)
		if err != nil {
			return h, isTag, err
		}
		h, isTag = t.Target, true
	}
	return h, isTag, errors.New("tag chain too long")
}

// writeAdvertisement writes refs, the first with the capabilities, and a
// flush-pkt. Without refs, git expects a capabilities^{} line.
func writeAdvertisement(enc *pktline.Encoder, refs []refLine, caps []string) error {
	c := strings.Join(caps, " ")
	if len(refs) == 0 {
		refs = []refLine{{"capabilities^{}", plumbing.ZeroHash}}
	}
	for i, r := range refs {
		var err error
		if i == 0 {
			err = enc.Encodef("%s %s\x00%s\n", r.hash, r.name, c)
		} else {
			err = enc.Encodef("%s %s\n", r.hash, r.name)
		}
		if err != nil {
			return err
		}
	}
	return enc.Flush()
}

// advertisedTTL is how long a value advertised to a fetching client stays
// wantable after its ref moved.
const advertisedTTL = time.Hour

// remember records the values advertised to a fetching client. A stateless
// client wants them in a later request, by when a push or a refresh may
// have moved the ref: git's own HTTP backend then fails the fetch with
// "not our ref".
//
// Preconditions: m.mu is held for writing.
func (m *mirror) remember(refs []refLine, now time.Time) {
	for h, t := range m.advertised {
		if now.Sub(t) > advertisedTTL {
			delete(m.advertised, h)
		}
	}
	for _, r := range refs {
		m.advertised[r.hash] = now
	}
}

// wantable returns the values a client may want: those of the refs and
// their peeled values, and those advertised recently.
//
// Preconditions: m.mu is held.
func (m *mirror) wantable(repo *git.Repository) (map[plumbing.Hash]bool, error) {
	refs, err := listRefs(repo, true)
	if err != nil {
		return nil, err
	}
	set := make(map[plumbing.Hash]bool, len(refs.lines)+len(m.advertised))
	for _, r := range refs.lines {
		set[r.hash] = true
	}
	for h := range m.advertised {
		set[h] = true
	}
	return set, nil
}
