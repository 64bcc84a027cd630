package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// reader decodes one file's YAML nodes against the schema, collecting every
// problem instead of stopping at the first.
type reader struct {
	file string
	// lineOff is added to a node's line to give the file line.
	lineOff int
	ds      *Diagnostics
}

func (r *reader) pos(n *yaml.Node) Pos {
	return Pos{File: r.file, Line: n.Line + r.lineOff, Col: n.Column}
}

func (r *reader) errorf(n *yaml.Node, format string, args ...any) {
	r.ds.errorf(r.pos(n), format, args...)
}

func (r *reader) warnf(n *yaml.Node, format string, args ...any) {
	r.ds.warnf(r.pos(n), format, args...)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse decodes the frontmatter into a node tree and rejects the YAML
// features the manifest format forbids. It returns the top-level mapping, or
// nil when the frontmatter is empty or unusable.
func (r *reader) parse(src []byte) (top *yaml.Node) {
	defer func() {
		// The YAML library is not ours; a panic on hostile input must
		// surface as a positioned error, not crash the CLI or sidecar.
		if p := recover(); p != nil {
			r.ds.errorf(Pos{File: r.file, Line: r.lineOff + 1, Col: 1}, "frontmatter is not valid YAML (parser failure: %v)", p)
			top = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		r.syntaxError(src, err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		r.errorf(&extra, "the frontmatter holds a second YAML document; a manifest has exactly one")
		return nil
	} else if !errors.Is(err, io.EOF) {
		r.syntaxError(src, err)
		return nil
	}
	r.strict(&doc)
	if len(doc.Content) == 0 {
		return nil
	}
	n := doc.Content[0]
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "frontmatter must be a mapping of keys to values, not %s", describe(n))
		return nil
	}
	return n
}

func (r *reader) syntaxError(src []byte, err error) {
	msg := err.Error()
	if strings.Contains(msg, "cannot start any token") {
		// The usual cause is a tab used for indentation; say so and point
		// at the first such line.
		for i, l := range strings.Split(string(src), "\n") {
			if strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
				r.ds.errorf(Pos{File: r.file, Line: i + 1 + r.lineOff, Col: len(l) - len(strings.TrimLeft(l, " ")) + 1}, "invalid YAML: a tab cannot indent YAML; indent with spaces")
				return
			}
		}
	}
	line := 1
	for l := range strings.SplitSeq(msg, "\n") {
		if m := yamlLineRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
			break
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if strings.Contains(msg, "expected <document start>") {
		// YAML after a "..." end marker would start a second document.
		msg = "the frontmatter holds YAML after a ... document end marker; a manifest has exactly one document"
	}
	r.ds.errorf(Pos{File: r.file, Line: line + r.lineOff, Col: 1}, "invalid YAML: %s", msg)
}

// strict walks the whole tree and reports anchors, aliases, explicit tags,
// merge keys, non-scalar keys and duplicate keys. It also removes them from
// the tree (an alias becomes an empty value, a bad or repeated key is
// dropped), so that decoding can go on and report every other problem of
// the file at once.
func (r *reader) strict(n *yaml.Node) {
	switch {
	case n.Kind == yaml.AliasNode:
		r.errorf(n, "aliases (*%s) are not allowed in manifests: write the value out", n.Value)
		*n = yaml.Node{Kind: yaml.ScalarNode, Tag: removedTag, Line: n.Line, Column: n.Column}
		return
	case n.Anchor != "":
		r.errorf(n, "anchors (&%s) are not allowed in manifests: write each value out", n.Anchor)
		n.Anchor = ""
	}
	if n.Style&yaml.TaggedStyle != 0 {
		r.errorf(n, "tags (%s) are not allowed in manifests: write a plain value", n.Tag)
		n.Style &^= yaml.TaggedStyle
	}
	if n.Kind != yaml.MappingNode {
		for _, c := range n.Content {
			r.strict(c)
		}
		return
	}
	seen := map[string]*yaml.Node{}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			r.errorf(k, "keys must be plain strings, not %s", describe(k))
			continue
		case k.Tag == "!!merge" || (k.Value == "<<" && k.Style == 0):
			r.errorf(k, "merge keys (<<) are not allowed in manifests: write the keys out")
			continue
		}
		r.strict(k)
		if first, dup := seen[k.Value]; dup {
			r.errorf(k, "duplicate key %q (first set on line %d)", k.Value, first.Line+r.lineOff)
			r.strict(v)
			continue
		}
		seen[k.Value] = k
		r.strict(v)
		kept = append(kept, k, v)
	}
	n.Content = kept
}

// removedTag marks a node strict already reported and removed (an alias);
// decoding skips it silently so that one mistake gives one error.
const removedTag = "!bot-bottle/removed"

func removed(n *yaml.Node) bool { return n.Tag == removedTag }

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0
}

// isEmpty reports whether n is null or an empty mapping or sequence: the
// "explicit empty" that clears an inherited value.
func isEmpty(n *yaml.Node) bool {
	return isNull(n) || ((n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && len(n.Content) == 0)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		if isNull(n) {
			return "an empty value"
		}
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "an unknown node"
}

// field is one allowed key of a mapping and the function that decodes its value.
type field struct {
	name   string
	decode func(key, val *yaml.Node)
}

// fields describes a mapping's schema.
type fields struct {
	// where names the mapping in messages, e.g. "egress route".
	where string
	list  []field
	// ignored keys are accepted and skipped.
	ignored []string
	// warned keys are accepted and skipped with the warning given: they
	// have no effect.
	warned map[string]string
	// retired keys fail with the migration hint given.
	retired map[string]string
	// forbidden keys fail with the message given, as written.
	forbidden map[string]string
}

func (fs *fields) allowed() []string {
	names := make([]string, 0, len(fs.list)+len(fs.ignored))
	for _, f := range fs.list {
		names = append(names, f.name)
	}
	names = append(names, fs.ignored...)
	return slices.AppendSeq(names, slices.Values(slices.Sorted(maps.Keys(fs.warned))))
}

// mapping decodes n against fs. An empty value decodes as an empty mapping.
// It reports whether n was a mapping (or empty).
func (r *reader) mapping(n *yaml.Node, fs fields) bool {
	if isNull(n) || removed(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "%s must be a mapping, not %s", fs.where, describe(n))
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if removed(v) {
			continue
		}
		if j := slices.IndexFunc(fs.list, func(f field) bool { return f.name == k.Value }); j >= 0 {
			fs.list[j].decode(k, v)
			continue
		}
		if slices.Contains(fs.ignored, k.Value) {
			continue
		}
		if msg, ok := fs.warned[k.Value]; ok {
			r.warnf(k, "%s has no effect: %s", k.Value, msg)
			continue
		}
		if msg, ok := fs.forbidden[k.Value]; ok {
			r.errorf(k, "%s", msg)
			continue
		}
		if hint, ok := fs.retired[k.Value]; ok {
			r.errorf(k, "%s: key %q was retired: %s", fs.where, k.Value, hint)
			continue
		}
		r.unknownKey(k, fs.where, fs.allowed())
	}
	return true
}

func (r *reader) unknownKey(k *yaml.Node, where string, allowed []string) {
	msg := fmt.Sprintf("unknown key %q in %s", k.Value, where)
	if s := suggest(k.Value, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(allowed) == 0 {
		msg += "; it takes no keys"
	} else {
		msg += "; allowed: " + strings.Join(allowed, ", ")
	}
	r.ds.errorf(r.pos(k), "%s", msg)
}

// str decodes a string scalar. Plain scalars are taken as written: there is
// no type guessing, so `NO`, `1.10` and `true` are the strings they look
// like. An empty value decodes as "".
func (r *reader) str(n *yaml.Node, what string) (string, bool) {
	if removed(n) {
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		r.errorf(n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// boolean decodes an unquoted true or false. YAML 1.1 spellings (yes, on)
// are refused rather than guessed at.
func (r *reader) boolean(n *yaml.Node, what string) (bool, bool) {
	if removed(n) {
		return false, false
	}
	if isNull(n) {
		return false, true
	}
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		switch n.Value {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	r.errorf(n, "%s must be true or false, not %s", what, describe(n))
	return false, false
}

// integer decodes an unquoted decimal integer.
func (r *reader) integer(n *yaml.Node, what string) (int64, bool) {
	if removed(n) {
		return 0, false
	}
	if isNull(n) {
		return 0, true
	}
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 && isDecimal(n.Value) {
		if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return v, true
		}
	}
	r.errorf(n, "%s must be a whole number, not %s", what, describe(n))
	return 0, false
}

func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// strList decodes a list of strings. An empty value decodes as an empty list.
func (r *reader) strList(n *yaml.Node, what string) ([]string, []*yaml.Node, bool) {
	if isNull(n) {
		return nil, nil, true
	}
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, "%s must be a list, not %s", what, describe(n))
		return nil, nil, false
	}
	out := make([]string, 0, len(n.Content))
	nodes := make([]*yaml.Node, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		if removed(c) {
			continue
		}
		s, good := r.str(c, what+" entry")
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
		nodes = append(nodes, c)
	}
	return out, nodes, ok
}

// list decodes each entry of a sequence with fn.
func (r *reader) list(n *yaml.Node, what string, fn func(i int, c *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, "%s must be a list, not %s", what, describe(n))
		return
	}
	for i, c := range n.Content {
		if !removed(c) {
			fn(i, c)
		}
	}
}

// suggest returns the allowed name closest to s, if it is close enough to
// be a likely typo.
func suggest(s string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(s), a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
