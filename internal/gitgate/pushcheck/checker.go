package pushcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// Config configures a Checker for one repository.
type Config struct {
	// Branches are the branch patterns (without refs/heads/) the agent
	// may create, update or delete. Nil allows every branch except the
	// upstream's default branch (every branch when the upstream is
	// empty); empty and non-nil allows none.
	Branches []string
	// ProtectedPaths are path patterns new commits may not add, modify,
	// delete or rename. Nil means manifest.DefaultProtectedPaths; empty
	// and non-nil protects none.
	ProtectedPaths []string
	// MaxPushBytes refuses a push whose pack is larger; zero means no
	// limit.
	MaxPushBytes int64
	// Detector finds secrets; it is required, and may be shared.
	Detector *Detector
	// KnownSecrets are the values the sidecar holds (route credentials,
	// keys): a push carrying one, in any form the egress proxy looks for
	// and in any channel, is refused.
	KnownSecrets []dlp.Secret
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
}

// Checker checks the pushes to one repository.
type Checker struct {
	// branches is nil for the default policy.
	branches  []pattern
	protected []pattern
	maxBytes  int64
	det       *Detector
	// known finds the known secrets; nil when there are none.
	known *dlp.Scanner
	log   *slog.Logger
}

var _ gitgate.Checker = (*Checker)(nil)

// New validates cfg and returns a Checker.
func New(cfg Config) (*Checker, error) {
	var errs []error
	if cfg.Detector == nil {
		errs = append(errs, errors.New("no Detector: build one with NewDetector and share it"))
	}
	if cfg.MaxPushBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxPushBytes %d is negative; use 0 for no limit", cfg.MaxPushBytes))
	}
	c := &Checker{maxBytes: cfg.MaxPushBytes, det: cfg.Detector, log: cfg.Logger}
	if cfg.Branches != nil {
		c.branches = []pattern{}
	}
	for _, b := range cfg.Branches {
		if err := manifest.CheckBranchPattern(b); err != nil {
			errs = append(errs, err)
			continue
		}
		c.branches = append(c.branches, compilePattern(b))
	}
	paths := cfg.ProtectedPaths
	if paths == nil {
		paths = manifest.DefaultProtectedPaths
	}
	for _, p := range paths {
		if err := manifest.CheckPathPattern(p); err != nil {
			errs = append(errs, err)
			continue
		}
		c.protected = append(c.protected, compilePattern(p))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pushcheck config: %w", err)
	}
	if len(cfg.KnownSecrets) > 0 {
		c.known = dlp.New(cfg.KnownSecrets)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "pushcheck")
	return c, nil
}

var _ gitgate.NameScreener = (*Checker)(nil)

// HoldsSecret implements gitgate.NameScreener with the rules Check
// scans ref names with. A scan that ctx cut short says yes.
func (c *Checker) HoldsSecret(ctx context.Context, name string) bool {
	return len(c.scanItems(ctx, []string{name})) > 0 || ctx.Err() != nil
}

// Check implements gitgate.Checker. It returns an error only when it
// cannot read the push's objects or ctx ends, which refuses the whole
// push.
func (c *Checker) Check(ctx context.Context, p *gitgate.Push) ([]gitgate.Rejection, error) {
	start := time.Now()
	if c.maxBytes > 0 && p.PackBytes > c.maxBytes {
		c.log.Info("push too large", "repo", p.Repo, "pack_bytes", p.PackBytes, "max_bytes", c.maxBytes)
		return []gitgate.Rejection{tooLarge(p.PackBytes, c.maxBytes)}, nil
	}
	var rejs []gitgate.Rejection
	for _, cmd := range p.Commands {
		if rj, ok := c.refPolicy(p, cmd); !ok {
			rejs = append(rejs, rj)
		}
	}
	w, err := attribute(p)
	if err != nil {
		return nil, err
	}
	rejs = append(rejs, w.nonCommits...)
	if len(w.extra) > 0 {
		// The server computes NewCommits the same way; a difference is a
		// bug there, and scanning the union keeps the gate closed.
		c.log.Warn("commits reachable from the push but not in NewCommits", "repo", p.Repo, "count", len(w.extra))
	}
	commits := append(append([]plumbing.Hash(nil), p.NewCommits...), w.extra...)
	rv, err := c.review(ctx, p, commits)
	if err != nil {
		return nil, err
	}
	ch, err := c.scanChannels(ctx, p, w, rv.names)
	if err != nil {
		return nil, err
	}
	rejs = append(rejs, c.contentRejections(p, w, rv, ch)...)
	withhold(rejs, ch.taint)
	for i := range rejs {
		if j := slices.IndexFunc(p.Commands, func(cmd gitgate.Command) bool { return cmd.Name == rejs[i].Ref }); j >= 0 && ch.secretRefs[j] {
			rejs[i].Withhold = true
		}
	}
	c.log.Debug("checked push", "repo", p.Repo, "commits", len(commits), "files", rv.files,
		"scanned_bytes", rv.bytes, "rejections", len(rejs), "duration", time.Since(start))
	return rejs, nil
}
