package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// ErrRejected is wrapped by the result of a ref the upstream refused, such
// as "rejected: hook declined".
var ErrRejected = errors.New("rejected")

// command is one ref update as sent to receive-pack.
type command struct {
	idx      int // in the caller's updates
	name     plumbing.ReferenceName
	old, new plumbing.Hash
}

// Push implements gitgate.Upstream.
//
// Every command's old value is the upstream's advertised one, so
// receive-pack applies it only if the ref has not moved since; a
// non-forced update whose Old differs from that value is refused here
// with ErrStale and never sent. Deletes are guarded the same way; a ref
// already gone is reported done. Push options are sent in order and
// verbatim, or the push is refused when the upstream does not advertise
// push-options. Results come from the upstream's report-status, one per
// update; its side-band and stderr messages go to progress.
func (u *SSH) Push(ctx context.Context, mirror *git.Repository, updates []gitgate.Update, options []string, progress io.Writer) ([]error, error) {
	results, err := u.push(ctx, mirror, updates, options, progress)
	if err != nil {
		return nil, fmt.Errorf("repo %s: %w", u.cfg.Repo, err)
	}
	return results, nil
}

func (u *SSH) push(ctx context.Context, mirror *git.Repository, updates []gitgate.Update, options []string, progress io.Writer) ([]error, error) {
	if err := checkPush(updates, options); err != nil {
		return nil, err
	}
	results := make([]error, len(updates))
	if len(updates) == 0 {
		return results, nil
	}
	c, err := u.open(ctx, receivePack, progress)
	if err != nil {
		return nil, err
	}
	defer c.close()
	ar, err := c.advertisement()
	if err != nil {
		return nil, err
	}
	caps := ar.Capabilities
	if !caps.Supports(capability.ReportStatus) {
		return nil, errors.New("upstream does not offer report-status, so per-ref results would be guesses; not pushing")
	}
	if len(options) > 0 && !caps.Supports(capability.PushOptions) {
		return nil, errors.New("upstream does not accept push options (push-options not advertised); push again without -o")
	}

	cmds := plan(ar.References, caps.Supports(capability.DeleteRefs), updates, results)
	if len(cmds) == 0 {
		// Nothing to send: a lone flush ends receive-pack cleanly.
		if err := c.flush(); err != nil {
			return nil, c.fail("ending the session", err)
		}
		if err := c.send(); err != nil {
			return nil, c.fail("ending the session", err)
		}
		_ = c.wait()
		return results, nil
	}
	if err := c.sendCommands(mirror, ar, cmds, options); err != nil {
		return nil, err
	}
	rep, err := c.readReport(caps)
	if err != nil {
		return nil, err
	}
	// The report is authoritative whatever the exit status; waiting
	// lets the last stderr (post-receive hooks) reach progress.
	_ = c.wait()
	applyReport(rep, cmds, results)
	return results, nil
}

// checkPush refuses updates the protocol cannot carry.
func checkPush(updates []gitgate.Update, options []string) error {
	seen := map[plumbing.ReferenceName]bool{}
	for _, up := range updates {
		if up.Name.Validate() != nil || !up.Name.IsSafe() || !strings.HasPrefix(up.Name.String(), "refs/") {
			return fmt.Errorf("invalid ref name %q", up.Name)
		}
		if seen[up.Name] {
			return fmt.Errorf("%s is updated twice in one push", up.Name)
		}
		seen[up.Name] = true
	}
	for _, o := range options {
		// A pkt-line holds one option; git refuses these too.
		if strings.ContainsAny(o, "\n\x00") {
			return fmt.Errorf("push option %q holds a newline or NUL", o)
		}
	}
	return nil
}

// plan turns updates into commands against the upstream's current refs,
// recording in results the updates decided without sending them.
func plan(current map[string]plumbing.Hash, deletes bool, updates []gitgate.Update, results []error) []command {
	var cmds []command
	for i, up := range updates {
		cur, exists := current[up.Name.String()]
		switch {
		case up.Delete() && !exists, !up.Delete() && cur == up.New:
			continue // already in the wanted state
		case !up.Force && cur != up.Old:
			results[i] = stale(up, cur)
			continue
		case up.Delete() && !deletes:
			results[i] = errors.New("upstream does not accept deletes (no delete-refs capability)")
			continue
		}
		cmds = append(cmds, command{idx: i, name: up.Name, old: cur, new: up.New})
	}
	return cmds
}

func stale(up gitgate.Update, cur plumbing.Hash) error {
	return fmt.Errorf("%s %w (upstream has %s, the push expected %s); fetch, rebase or merge, and push again",
		up.Name, ErrStale, describe(cur), describe(up.Old))
}

func describe(h plumbing.Hash) string {
	if h.IsZero() {
		return "no such ref"
	}
	return h.String()[:12]
}

// readReport reads receive-pack's report-status, passing side-band
// progress to the tail's destination, and drains what follows it (the
// messages of post-receive hooks, such as a link to open a pull request).
func (c *conn) readReport(caps *capability.List) (*packp.ReportStatus, error) {
	r := c.stdout
	var d *sideband.Demuxer
	if caps.Supports(capability.Sideband64k) {
		d = sideband.NewDemuxer(sideband.Sideband64k, c.stdout)
		d.Progress = sidebandWriter{c.stderr}
		r = d
	}
	rep := packp.NewReportStatus()
	if err := rep.Decode(r); err != nil {
		return nil, c.fail("reading the upstream's report", err)
	}
	if d != nil {
		_, _ = io.Copy(io.Discard, d)
	}
	return rep, nil
}

// applyReport sets the result of every sent command from rep.
func applyReport(rep *packp.ReportStatus, cmds []command, results []error) {
	status := map[plumbing.ReferenceName]string{}
	for _, cs := range rep.CommandStatuses {
		status[cs.ReferenceName] = cs.Status
	}
	for _, cmd := range cmds {
		st, ok := status[cmd.name]
		switch {
		case rep.UnpackStatus != "ok":
			results[cmd.idx] = fmt.Errorf("%w: upstream could not unpack the objects: %s", ErrRejected, rep.UnpackStatus)
		case !ok:
			results[cmd.idx] = fmt.Errorf("%w: upstream did not report on %s", ErrRejected, cmd.name)
		case st != "ok":
			results[cmd.idx] = fmt.Errorf("%w: %s", ErrRejected, st)
		}
	}
}
