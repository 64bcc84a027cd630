package gitgate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

const (
	// maxCommandBytes bounds the pkt-line part of a push: the commands and
	// the push options.
	maxCommandBytes = 16 << 20
	// maxDrainBytes bounds how much of a refused push is read and
	// discarded so that the client, still sending, can read the refusal.
	maxDrainBytes = 4 << 30
)

// verdict is the gate's decision on one command of a push.
type verdict struct {
	refused      bool
	rule, reason string
	// detail is for the audit log: the Checker's detail lines.
	detail string
	// withhold keeps the ref's name out of the audit log: it holds a
	// potential secret.
	withhold bool
	// objs and commits are the command's objects new to the mirror.
	objs, commits []plumbing.Hash
}

func (v *verdict) refuse(rule, reason string) { v.refuseDetail(rule, reason, "") }

// refuseDetail refuses the command unless it is refused already: the
// first reason is the one reported.
func (v *verdict) refuseDetail(rule, reason, detail string) {
	if v.refused {
		return
	}
	v.refused, v.rule, v.reason, v.detail = true, rule, reason, detail
}

// pushRun is one git-receive-pack request being decided.
type pushRun struct {
	s    *Server
	m    *mirror
	req  *pushRequest
	rep  *reporter
	repo *git.Repository
	q    *quarantine
	v    []verdict
	// packBytes is the size of the pack the client sent.
	packBytes int64
	unpack    string
}

// receivePack answers POST NAME/git-receive-pack.
func (s *Server) receivePack(w http.ResponseWriter, r *http.Request, m *mirror) {
	body, err := requestBody(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	defer body.Close() //nolint:errcheck // closing a request body reader cannot fail usefully
	lr := &limitReader{r: body, n: maxCommandBytes}
	req, err := readPushRequest(lr)
	if err != nil {
		httpError(w, http.StatusBadRequest, "git-receive-pack request: "+err.Error())
		return
	}
	if len(req.commands) == 0 {
		// The probe before a large chunked request.
		w.Header().Set("Content-Type", "application/x-git-receive-pack-result")
		return
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	p := &pushRun{s: s, m: m, req: req, rep: newReporter(w, req.caps), v: make([]verdict, len(req.commands)), unpack: "ok"}
	p.receive(lr)
	// Go's server may refuse to read the body once the response has
	// begun, and the client is still sending: drain before answering.
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrainBytes))
	if p.repo != nil && p.unpack == "ok" {
		p.decide(r.Context())
	}
	// Without the request's end: a client that hangs up must not
	// cut the screen short and get a name recorded.
	p.screen(context.WithoutCancel(r.Context()))
	p.finish()
}

// receive opens the mirror and unpacks the pack into the quarantine.
func (p *pushRun) receive(lr *limitReader) {
	repo, err := p.m.open(true)
	if err != nil {
		p.s.log.Error("opening mirror", "repo", p.m.Name, "err", err)
		p.refuseAll("gate-error", "gate error")
		p.unpack = "gate mirror unavailable"
		return
	}
	p.repo = repo
	// The quarantine holds objects inflated: capping them at four times
	// the pack limit also refuses a small pack that inflates hugely (a
	// zlib or delta bomb).
	p.q = newQuarantine(repo.Storer, 4*p.s.maxPack)
	if !p.req.needsPack() {
		return
	}
	lr.n, lr.read = p.s.maxPack, 0
	err = p.q.unpack(lr)
	p.packBytes = lr.read
	switch {
	case errors.Is(err, errTooLarge):
		p.rep.message(fmt.Sprintf("gate: push refused: it is larger than the gate's limit of %s; push fewer or smaller commits", sizeString(p.s.maxPack)))
		p.refuseAll("push-too-large", "push too large")
		p.unpack = "pack exceeds the size limit"
	case err != nil:
		p.s.log.Warn("unpacking push", "repo", p.m.Name, "err", err)
		p.refuseAll("bad-pack", "unpacker error")
		p.unpack = oneLine(err.Error())
	}
}

// decide checks every command, puts the push before the Checker and
// forwards what it accepts.
func (p *pushRun) decide(ctx context.Context) {
	for i, c := range p.req.commands {
		p.precheck(i, c)
	}
	p.atomic()
	if p.pending() == 0 {
		return
	}
	p.check(ctx)
	p.atomic()
	if p.pending() == 0 {
		return
	}
	p.forward(ctx)
}

// precheck refuses a command whose ref name is invalid, whose Old is not
// the mirror's current value, or whose history is incomplete.
func (p *pushRun) precheck(i int, c Command) {
	v := &p.v[i]
	if !strings.HasPrefix(c.Name.String(), "refs/") || c.Name.Validate() != nil {
		p.rep.message(fmt.Sprintf("gate: %s: not a valid ref name", c.Name))
		v.refuse("invalid-ref", "invalid ref name")
		return
	}
	cur := plumbing.ZeroHash
	ref, err := p.repo.Storer.Reference(c.Name)
	switch {
	case err == nil && ref.Type() == plumbing.HashReference:
		cur = ref.Hash()
	case err == nil:
		v.refuse("invalid-ref", "symbolic ref")
		return
	case !errors.Is(err, plumbing.ErrReferenceNotFound):
		p.s.log.Error("reading mirror ref", "repo", p.m.Name, "ref", c.Name, "err", err)
		v.refuse("gate-error", "gate error")
		return
	}
	if c.Old != cur {
		p.rep.message(fmt.Sprintf("gate: %s: the upstream ref moved since your fetch; fetch, integrate and push again", c.Name))
		v.refuse("stale-old", "fetch first")
		return
	}
	if c.Delete() {
		return
	}
	v.objs, v.commits, err = p.q.newObjects(c.New)
	switch {
	case errors.Is(err, errMissing):
		p.rep.message(fmt.Sprintf("gate: %s: %v", c.Name, err))
		v.refuse("missing-objects", "missing necessary objects")
	case err != nil:
		p.s.log.Warn("walking pushed objects", "repo", p.m.Name, "ref", c.Name, "err", err)
		v.refuse("bad-pack", "invalid objects")
	}
}

// check puts the pending commands before the Checker.
func (p *pushRun) check(ctx context.Context) {
	push := &Push{
		Repo:          p.m.Name,
		Options:       p.req.options,
		PackBytes:     p.packBytes,
		Objects:       p.q,
		Mirror:        p.repo,
		DefaultBranch: defaultBranch(p.repo),
	}
	idx := map[plumbing.ReferenceName]int{}
	seen := map[plumbing.Hash]bool{}
	for i, c := range p.req.commands {
		if p.v[i].refused {
			continue
		}
		idx[c.Name] = i
		push.Commands = append(push.Commands, c)
		for _, h := range p.v[i].commits {
			if !seen[h] {
				seen[h] = true
				push.NewCommits = append(push.NewCommits, h)
			}
		}
	}
	start := time.Now()
	rejs, err := p.m.Checker.Check(ctx, push)
	p.s.log.Debug("checked push", "repo", p.m.Name, "commits", len(push.NewCommits), "rejections", len(rejs), "duration", time.Since(start))
	if err != nil {
		// Security: fail closed.
		p.s.log.Error("checking push", "repo", p.m.Name, "err", err)
		p.rep.message("gate: push refused: the check failed: " + oneLine(err.Error()))
		p.refuseAll("check-failed", "gate check failed")
		return
	}
	rejs = p.askOperator(ctx, rejs)
	for _, rj := range rejs {
		for _, d := range rj.Detail {
			p.rep.message(d)
		}
		rule, reason := rj.Rule, rj.Reason
		if rule == "" {
			rule = "refused"
		}
		if reason == "" {
			reason = "refused by the gate"
		}
		reason, detail := oneLine(reason), strings.Join(rj.Detail, "; ")
		if i, ok := idx[rj.Ref]; ok {
			p.v[i].refuseDetail(rule, reason, detail)
			p.v[i].withhold = p.v[i].withhold || rj.Withhold
			continue
		}
		if rj.Ref != "" {
			// Security: a rejection of a ref the push does not update
			// is a Checker bug; refuse everything rather than guess.
			p.s.log.Error("checker rejected a ref not in the push", "repo", p.m.Name, "ref", rj.Ref, "rule", rj.Rule)
		}
		for j := range p.v {
			p.v[j].refuseDetail(rule, reason, detail)
		}
	}
}

// atomic refuses every command when one is refused and the client asked
// for an atomic push.
func (p *pushRun) atomic() {
	if !p.req.caps.has(capAtomic) || p.pending() == len(p.v) {
		return
	}
	p.refuseAll("atomic", "atomic push failure")
}

func (p *pushRun) pending() int {
	n := 0
	for _, v := range p.v {
		if !v.refused {
			n++
		}
	}
	return n
}

func (p *pushRun) refuseAll(rule, reason string) {
	for i := range p.v {
		p.v[i].refuse(rule, reason)
	}
}

// screen withholds from the audit log the ref names that hold a
// potential secret, whatever the decision on them.
func (p *pushRun) screen(ctx context.Context) {
	sc, ok := p.m.Checker.(NameScreener)
	if !ok {
		return
	}
	for i, c := range p.req.commands {
		if !p.v[i].withhold && sc.HoldsSecret(ctx, c.Name.String()) {
			p.v[i].withhold = true
		}
	}
}

// finish sends the report-status and audits every command.
func (p *pushRun) finish() {
	lines := make([]string, len(p.req.commands))
	accepted := 0
	for i, c := range p.req.commands {
		v := p.v[i]
		ev := Event{Repo: p.m.Name, Op: OpPush, Ref: c.Name.String(), Decision: DecisionAllow, Detail: fmt.Sprintf("%s..%s", c.Old, c.New)}
		if v.withhold {
			ev.Ref = WithheldRef
		}
		if v.refused {
			lines[i] = fmt.Sprintf("ng %s %s", c.Name, v.reason)
			ev.Decision, ev.Rule, ev.Detail = DecisionRefuse, v.rule, v.reason
			if v.detail != "" {
				ev.Detail += ": " + v.detail
			}
		} else {
			lines[i] = "ok " + c.Name.String()
			accepted++
		}
		p.s.audit(ev)
	}
	p.s.log.Info("push", "repo", p.m.Name, "commands", len(p.req.commands), "accepted", accepted, "pack_bytes", p.packBytes)
	p.rep.status(p.unpack, lines)
}

// defaultBranch returns the branch the mirror's HEAD names, or "" when
// HEAD does not resolve (an empty upstream).
func defaultBranch(repo *git.Repository) plumbing.ReferenceName {
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference {
		return ""
	}
	if _, err := repo.Storer.Reference(head.Target()); err != nil {
		return ""
	}
	return head.Target()
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
