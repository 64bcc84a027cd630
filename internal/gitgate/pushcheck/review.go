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
	// names maps the names new trees add to the commits that add them.
	names map[string][]plumbing.Hash
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
					var n int
					l.job.findings, n = c.scanBinary(gctx, l.job.path, l.to)
					scanned.Add(int64(n))
					continue
				}
				starts := lineStarts(l.to)
				runs := addedLines(l.from, l.to, starts)
				var n int
				l.job.findings, n = c.det.scanFile(gctx, l.job.path, l.to, starts, runs)
				l.job.findings = append(l.job.findings, c.knownInRuns(l.to, starts, runs)...)
				if strings.IndexByte(l.to, 0) >= 0 {
					// Text to git, with NUL bytes past its sniff: UTF-16
					// text after 8000 ASCII bytes hides from the scan
					// of lines, and not from the scan of a binary.
					fs, m := c.scanBinary(gctx, l.job.path, l.to)
					l.job.findings = append(l.job.findings, fs...)
					n += m
				}
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
	rv := &reviewed{protected: chs.protected, secrets: map[plumbing.Hash][]fileFinding{}, names: chs.names,
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

// knownInRuns finds the known secrets in the added lines of a file: runs
// of content, whose lines start at starts.
func (c *Checker) knownInRuns(content string, starts []int, runs []lineRange) []finding {
	if c.known == nil {
		return nil
	}
	var out []finding
	for _, r := range runs {
		text := content[starts[r.first-1]:starts[r.last]]
		for _, f := range c.known.ScanKnown("git push", text) {
			line := r.first
			if i := strings.Index(text, f.Text()); f.Text() != "" && i >= 0 {
				line += strings.Count(text[:i], "\n")
			}
			out = append(out, finding{rule: knownRule + f.Slot, line: line, endLine: line, secret: f.Slot})
		}
	}
	return dedupe(out)
}

// minBinaryRun is the shortest run of printable bytes scanned in a
// binary file, as strings(1) would print it: shorter runs are noise, and
// no credential is that short.
const minBinaryRun = 8

// scanBinary scans a binary file: its path with the rules that look at
// paths, and the runs of printable text in its bytes, both as stored and
// with NUL bytes dropped (which turns UTF-16 text into ASCII), with the
// gitleaks rules and the known secrets. Its findings have no line: a
// binary file has none a reader would count.
func (c *Checker) scanBinary(ctx context.Context, path, content string) ([]finding, int) {
	out := c.det.scanPath(ctx, path)
	noNUL := strings.ReplaceAll(content, "\x00", "")
	text := printableRuns(content) + printableRuns(noNUL)
	if starts := lineStarts(text); len(starts) > 1 && !c.det.pathAllowed(path) {
		fs, _ := c.det.scanFile(ctx, path, text, starts, []lineRange{{1, len(starts) - 1}})
		out = append(out, fs...)
	}
	if c.known != nil {
		for _, t := range []string{content, noNUL} {
			for _, f := range c.known.ScanKnown("git push", t) {
				out = append(out, finding{rule: knownRule + f.Slot, secret: f.Slot})
			}
		}
	}
	for i := range out {
		out[i].line, out[i].endLine, out[i].column = 0, 0, 0
	}
	return dedupe(out), len(text)
}

// printableRuns returns the runs of at least minBinaryRun printable ASCII
// bytes (and tabs) of b, one a line.
func printableRuns(b string) string {
	var sb strings.Builder
	start := -1
	flush := func(end int) {
		if start >= 0 && end-start >= minBinaryRun {
			sb.WriteString(b[start:end])
			sb.WriteByte('\n')
		}
		start = -1
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; c == '\t' || c >= 0x20 && c < 0x7f {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(b))
	return sb.String()
}
