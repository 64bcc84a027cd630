package pushcheck

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// Rules of the channels outside file contents.
const (
	// RuleObject refuses a commit or tag that git would not write: a
	// header git does not write, an encoding that hides ASCII, a NUL.
	RuleObject = "object-not-allowed"
)

// withheld replaces, in every message and audit record, a ref name or a
// path that holds a potential secret.
const withheld = "[withheld: it holds a potential secret]"

// knownRule prefixes the slot of a known secret in a finding's rule.
const knownRule = "known-secret:"

// channels is what the gate found outside file contents: in commit and
// tag objects (headers and messages), in the names new trees add, in the
// names of new refs and in push options.
type channels struct {
	// secrets and allowed list findings (plain, and marked gitleaks:allow)
	// by command index; index -1 is the whole push (push options).
	secrets, allowed map[int][]string
	// objects lists, by command, the commits and tags git would not write.
	objects map[int][]string
	// taint holds the ref names and paths that hold a finding: every
	// rejection text withholds them.
	taint []string
	// secretRefs are the commands whose ref name holds a finding.
	secretRefs map[int]bool
}

func (ch *channels) add(m map[int][]string, cmds []int, item string) {
	for _, i := range cmds {
		if !slices.Contains(m[i], item) {
			m[i] = append(m[i], item)
		}
	}
}

// scanChannels scans every channel of the push but file contents, with
// the same rules: the gitleaks rules and the known secrets.
func (c *Checker) scanChannels(ctx context.Context, p *gitgate.Push, w *walk, names map[string][]plumbing.Hash) (*channels, error) {
	ch := &channels{secrets: map[int][]string{}, allowed: map[int][]string{}, objects: map[int][]string{}, secretRefs: map[int]bool{}}
	for _, h := range w.order {
		if err := c.scanObject(ctx, p, ch, h, "commit", commitHeaders, w.refs[h]); err != nil {
			return nil, err
		}
	}
	for _, h := range w.tagOrder {
		if err := c.scanObject(ctx, p, ch, h, "tag", tagHeaders, w.tags[h]); err != nil {
			return nil, err
		}
	}

	// The names new trees add, each with the commands of the commits
	// that add it.
	sorted := slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	})
	for i, fs := range c.scanItems(ctx, sorted) {
		var cmds []int
		short := ""
		for _, h := range names[sorted[i]] {
			cmds = append(cmds, w.refs[h]...)
			if short == "" {
				short = h.String()[:10]
			}
		}
		slices.Sort(cmds)
		cmds = slices.Compact(cmds)
		ch.taint = append(ch.taint, sorted[i])
		for _, f := range fs {
			ch.record(cmds, f, short+" the name of a file or folder it adds")
		}
	}

	// The names of the refs the upstream does not have; an existing
	// ref's name is upstream already. Not only creates: a delete of a
	// ref that does not exist carries its name upstream too.
	var refs []string
	var refCmds []int
	for i, cmd := range p.Commands {
		if !refExists(p, cmd.Name) {
			refs = append(refs, cmd.Name.String())
			refCmds = append(refCmds, i)
		}
	}
	for k, fs := range c.scanItems(ctx, refs) {
		i := refCmds[k]
		ch.taint = append(ch.taint, refs[k])
		ch.secretRefs[i] = true
		for _, f := range fs {
			ch.record([]int{i}, f, "the ref name")
		}
	}

	// Push options go upstream with the whole push.
	for k, fs := range c.scanItems(ctx, p.Options) {
		for _, f := range fs {
			ch.record([]int{-1}, f, "push option "+strconv.Itoa(k+1))
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scanning push: %w", err)
	}
	return ch, nil
}

func (ch *channels) record(cmds []int, f finding, where string) {
	item := where + " rule=" + f.rule
	if f.suppressed {
		ch.add(ch.allowed, cmds, item)
	} else {
		ch.add(ch.secrets, cmds, item)
	}
}

// scanObject scans the raw commit or tag h, headers and message, and
// refuses what git would not write in it.
func (c *Checker) scanObject(ctx context.Context, p *gitgate.Push, ch *channels, h plumbing.Hash, kind string, known []string, cmds []int) error {
	raw, err := readRaw(p, h)
	if err != nil {
		return err
	}
	o := parseObject(raw)
	short := h.String()[:10]
	var found []finding
	if starts := lineStarts(raw); len(starts) > 1 {
		found, _ = c.det.scanFile(ctx, "", raw, starts, []lineRange{{1, len(starts) - 1}})
	}
	hit := map[int]bool{}
	for _, f := range found {
		for l := f.line; l <= max(f.line, f.endLine); l++ {
			hit[l] = true
		}
		ch.record(cmds, f, fmt.Sprintf("%s %s %s", short, kind, channelName(o.channel(f.line, known))))
	}
	// Known secrets, part by part so that the message says where, then
	// over the whole object for a value split across parts.
	located := false
	for _, hd := range o.headers {
		for _, f := range c.knownIn(hd.value) {
			located = true
			for l := hd.first; l <= hd.last; l++ {
				hit[l] = true
			}
			ch.record(cmds, f, fmt.Sprintf("%s %s %s", short, kind, channelName(o.channel(hd.first, known))))
		}
	}
	for _, f := range c.knownIn(o.message) {
		located = true
		ch.record(cmds, f, fmt.Sprintf("%s %s message", short, kind))
	}
	if !located {
		for _, f := range c.knownIn(raw) {
			ch.record(cmds, f, fmt.Sprintf("%s %s object", short, kind))
		}
	}

	if o.malformed != "" {
		ch.add(ch.objects, cmds, fmt.Sprintf("%s %s: %s", short, kind, o.malformed))
	}
	for _, hd := range o.unknownHeaders(known) {
		what := "a header git does not write"
		if hd.name == "encoding" {
			what = "an encoding that hides text from the scan"
		}
		shown := hd.name
		if hd.name == "encoding" && len(hd.value) <= 12 {
			shown = strings.ToLower(hd.value)
		}
		if !hit[hd.first] && safeWord(shown) {
			what += " (" + shown + ")"
		}
		ch.add(ch.objects, cmds, fmt.Sprintf("%s %s: %s, line %d", short, kind, what, hd.first))
	}
	return nil
}

// channelName names a part of a commit or tag for messages.
func channelName(part string) string {
	switch part {
	case "tag":
		return "name"
	case "gpgsig", "gpgsig-sha256":
		return "signature"
	}
	return part
}

// safeWord reports whether s may be shown in a message: a short word of
// lowercase letters, digits and dashes starting with a letter (a header
// name like x-secret, an encoding like utf-16le) carries too little to be
// a credential.
func safeWord(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z'
		other := c == '-' || c >= '0' && c <= '9'
		if !letter && (i == 0 || !other) {
			return false
		}
	}
	return true
}

// scanItems scans items, one a line (an item holding newlines spans
// lines), with the gitleaks rules in one pass and the known secrets item
// by item, and returns the findings of the items that have any.
func (c *Checker) scanItems(ctx context.Context, items []string) map[int][]finding {
	out := map[int][]finding{}
	if len(items) == 0 {
		return out
	}
	var sb strings.Builder
	first := make([]int, len(items)) // the line each item starts on
	line := 1
	for i, it := range items {
		first[i] = line
		sb.WriteString(it)
		sb.WriteByte('\n')
		line += strings.Count(it, "\n") + 1
	}
	text := sb.String()
	starts := lineStarts(text)
	fs, _ := c.det.scanFile(ctx, "", text, starts, []lineRange{{1, len(starts) - 1}})
	for _, f := range fs {
		i := sort.SearchInts(first, f.line+1) - 1
		out[i] = append(out[i], f)
	}
	for i, it := range items {
		out[i] = append(out[i], c.knownIn(it)...)
		if len(out[i]) == 0 {
			delete(out, i)
		}
	}
	return out
}

// knownIn returns a finding for each known secret in text, in any of
// the forms the egress proxy looks for.
func (c *Checker) knownIn(text string) []finding {
	if c.known == nil {
		return nil
	}
	var out []finding
	for _, f := range c.known.ScanKnown("git push", text) {
		out = append(out, finding{rule: knownRule + f.Slot, secret: f.Slot})
	}
	return out
}

// refExists reports whether the mirror, as refreshed before the push,
// has ref name.
func refExists(p *gitgate.Push, name plumbing.ReferenceName) bool {
	if p.Mirror == nil {
		return false
	}
	_, err := p.Mirror.Storer.Reference(name)
	return err == nil
}

// readRaw returns the bytes of object h as git stores them.
func readRaw(p *gitgate.Push, h plumbing.Hash) (string, error) {
	o, err := p.Objects.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return "", fmt.Errorf("reading object %s: %w", h, err)
	}
	r, err := o.Reader()
	if err != nil {
		return "", fmt.Errorf("reading object %s: %w", h, err)
	}
	defer func() { _ = r.Close() }() // a read from the object store; nothing to flush
	var sb strings.Builder
	sb.Grow(int(o.Size()))
	if _, err := io.Copy(&sb, r); err != nil {
		return "", fmt.Errorf("reading object %s: %w", h, err)
	}
	return sb.String(), nil
}

// withhold replaces every tainted name in the rejections' texts, so that
// a ref name or path holding a secret reaches no message or record.
func withhold(rejs []gitgate.Rejection, taint []string) {
	if len(taint) == 0 {
		return
	}
	// Longest first, so that a name holding another is replaced whole.
	taint = slices.Clone(taint)
	slices.SortFunc(taint, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, t := range taint {
		pairs = append(pairs, t, withheld)
		if q := showPath(t); q != t {
			pairs = append(pairs, q, withheld)
		}
	}
	r := strings.NewReplacer(pairs...)
	for i := range rejs {
		rejs[i].Reason = r.Replace(rejs[i].Reason)
		for j, d := range rejs[i].Detail {
			rejs[i].Detail[j] = r.Replace(d)
		}
	}
}
