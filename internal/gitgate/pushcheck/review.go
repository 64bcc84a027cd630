package pushcheck

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sync/errgroup"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// binarySniff is how much of a file git reads to call it binary: a NUL
// byte in it.
const binarySniff = 8000

// reviewed is what the commits of a push change and add.
type reviewed struct {
	protected map[plumbing.Hash][]pathChange
	secrets   map[plumbing.Hash][]fileFinding
	// files and bytes count the files and added text scanned, for logs.
	files int
	bytes int64
}

// fileFinding is a finding in a file of a commit.
type fileFinding struct {
	path string
	finding
}

// review collects the commits' changes, then scans the files' added
// lines. Objects are read by one goroutine, as go-git's storers are not
// all safe for concurrent use; diffing and scanning, the costly part, run
// on GOMAXPROCS workers.
func (c *Checker) review(ctx context.Context, p *gitgate.Push, commits []plumbing.Hash) (*reviewed, error) {
	chs, err := c.collect(ctx, p, commits)
	if err != nil {
		return nil, err
	}
	type loaded struct {
		job      *fileJob
		from, to string
		binary   bool
	}
	var scanned atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	queue := make(chan loaded)
	g.Go(func() error {
		defer close(queue)
		for _, j := range chs.jobs {
			var err error
			l := loaded{job: j}
			if l.to, err = readBlob(p, j.to); err != nil {
				return err
			}
			l.binary = isBinary(l.to)
			if !l.binary && !j.from.IsZero() {
				if l.from, err = readBlob(p, j.from); err != nil {
					return err
				}
				if isBinary(l.from) {
					l.from = "" // every line of the new text is new
				}
			}
			select {
			case queue <- l:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error {
			for l := range queue {
				if l.binary {
					l.job.findings = c.det.scanPath(gctx, l.job.path)
					continue
				}
				starts := lineStarts(l.to)
				runs := addedLines(l.from, l.to, starts)
				var n int
				l.job.findings, n = c.det.scanFile(gctx, l.job.path, l.to, starts, runs)
				scanned.Add(int64(n))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Security: gitleaks stops early and quietly when its context ends;
	// a partial scan must not pass.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scanning push: %w", err)
	}
	rv := &reviewed{protected: chs.protected, secrets: map[plumbing.Hash][]fileFinding{},
		files: len(chs.jobs), bytes: scanned.Load()}
	for _, j := range chs.jobs {
		for _, h := range j.commits {
			for _, f := range j.findings {
				rv.secrets[h] = append(rv.secrets[h], fileFinding{j.path, f})
			}
		}
	}
	for _, fs := range rv.secrets {
		slices.SortFunc(fs, func(a, b fileFinding) int {
			return cmp.Or(strings.Compare(a.path, b.path), cmp.Compare(a.line, b.line), strings.Compare(a.rule, b.rule))
		})
	}
	return rv, nil
}

func readBlob(p *gitgate.Push, h plumbing.Hash) (string, error) {
	b, err := object.GetBlob(p.Objects, h)
	if err != nil {
		return "", fmt.Errorf("reading blob %s: %w", h, err)
	}
	r, err := b.Reader()
	if err != nil {
		return "", fmt.Errorf("reading blob %s: %w", h, err)
	}
	defer func() { _ = r.Close() }() // a read from the object store; nothing to flush
	var sb strings.Builder
	sb.Grow(int(b.Size))
	if _, err := io.Copy(&sb, r); err != nil {
		return "", fmt.Errorf("reading blob %s: %w", h, err)
	}
	return sb.String(), nil
}

func isBinary(s string) bool {
	return strings.IndexByte(s[:min(len(s), binarySniff)], 0) >= 0
}
