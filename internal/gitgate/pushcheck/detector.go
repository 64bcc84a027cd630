package pushcheck

import (
	"fmt"
	"regexp/syntax"
	"strings"

	ahocorasick "github.com/BobuSumisu/aho-corasick"
	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
)

// cliDecodeDepth is the gitleaks CLI's default --max-decode-depth: how
// many rounds of base64, hex, percent and unicode decoding it scans.
const cliDecodeDepth = 5

// maxReach bounds the newlines a match of a keyed rule may span; a rule
// whose matches may span more runs over whole runs of added lines.
const maxReach = 16

// Detector finds secrets with gitleaks' default configuration: all of its
// rules, with the CLI's decoding depth. It is safe for concurrent use and
// meant to be built once and shared, as loading takes about 30 ms.
//
// gitleaks runs a rule over a whole fragment whenever one of the rule's
// keywords appears anywhere in it, and Go's regexp engine scans about
// 3 MB/s with the heaviest rule (generic-api-key), whose keywords (key,
// token, api, ...) appear in nearly every source file. So most rules run
// only near the lines that hold their keywords: a rule is "keyed" when
// the shape of its regexp proves that every match holds a keyword on its
// first line and spans at most reach more lines. Such a rule runs over
// windows of lines, each from a keyword line to reach lines below it,
// and finds what it would find over the whole text (TestScanMatchesGitleaks
// compares the two). Other rules run over whole runs of added lines, and
// decoding runs around the lines that hold an encoded segment.
type Detector struct {
	// rest holds the rules that are not keyed, run over whole runs.
	rest *detect.Detector
	// decoding holds every rule and decodes like the gitleaks CLI; it
	// runs over the lines around encoded segments.
	decoding *detect.Detector
	// decodeReach is how many lines around an encoded segment decoding
	// scans: the reach of the widest keyed rule.
	decodeReach int
	keyed       []keyedRule
	// trie finds the keyed rules' keywords; byKeyword maps each of its
	// patterns to the keyed rules that use it.
	trie      *ahocorasick.Trie
	byKeyword [][]int
	// pathAllowlists are the global allowlists' path parts, checked once
	// per file rather than once per window.
	pathAllowlists []*config.Allowlist
}

// keyedRule is a rule that runs only near its keywords.
type keyedRule struct {
	id string
	// det holds this rule alone.
	det *detect.Detector
	// reach is the most newlines one of its matches can span.
	reach int
	// pathAllowlists are its allowlists' path parts, checked once per run.
	pathAllowlists []*config.Allowlist
}

// NewDetector loads gitleaks' default rules (through dlp.LoadGitleaks,
// which serializes every load of gitleaks in the process).
func NewDetector() (*Detector, error) {
	base, err := dlp.LoadGitleaks()
	if err != nil {
		return nil, fmt.Errorf("loading gitleaks default config: %w", err)
	}
	return newDetector(base.Config)
}

func newDetector(cfg config.Config) (*Detector, error) {
	d := &Detector{}
	var err error
	// Security: gitleaks' global allowlist skips files by name (images,
	// lock files, node_modules/, vendor/). The agent names the files it
	// pushes, so a key in docs/logo.svg must not pass: the gate drops
	// those path parts and scans every path.
	if cfg.Allowlists, _, err = splitPathAllowlists(cfg.Allowlists); err != nil {
		return nil, err
	}
	d.decoding = newGitleaks(cfg, cliDecodeDepth)
	var rest []string
	kwIndex := map[string]int{}
	var kws []string
	for _, id := range cfg.OrderedRules {
		r := cfg.Rules[id]
		reach, ok, err := keyedReach(r)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", id, err)
		}
		if !ok {
			rest = append(rest, id)
			continue
		}
		d.decodeReach = max(d.decodeReach, reach)
		k := keyedRule{id: id, reach: reach}
		if r.Allowlists, k.pathAllowlists, err = splitPathAllowlists(r.Allowlists); err != nil {
			return nil, fmt.Errorf("rule %s: %w", id, err)
		}
		one := subConfig(cfg, id)
		one.Rules[id] = r
		k.det = newGitleaks(one, 0)
		d.keyed = append(d.keyed, k)
		for _, k := range r.Keywords {
			k = strings.ToLower(k)
			i, seen := kwIndex[k]
			if !seen {
				i = len(kws)
				kwIndex[k] = i
				kws = append(kws, k)
				d.byKeyword = append(d.byKeyword, nil)
			}
			d.byKeyword[i] = append(d.byKeyword[i], len(d.keyed)-1)
		}
	}
	d.rest = newGitleaks(subConfig(cfg, rest...), 0)
	d.trie = ahocorasick.NewTrieBuilder().AddStrings(kws).Build()
	return d, nil
}

// splitPathAllowlists takes the paths out of the allowlists whose
// conditions are OR'ed, so that gitleaks does not match the path once per
// window: for those, gitleaks skips a fragment whose path one matches,
// and checks the rest of the allowlist per finding. It returns the
// allowlists without paths, and the ones that had paths.
func splitPathAllowlists(all []*config.Allowlist) (rest, paths []*config.Allowlist, err error) {
	for _, a := range all {
		if a.MatchCondition != config.AllowlistMatchOr || len(a.Paths) == 0 {
			rest = append(rest, a)
			continue
		}
		paths = append(paths, a)
		if len(a.Commits)+len(a.Regexes)+len(a.StopWords) == 0 {
			continue
		}
		// A fresh copy: Validate compiles the patterns gitleaks matches
		// with, and a copied Allowlist would keep the path pattern.
		c := &config.Allowlist{
			Description: a.Description, MatchCondition: a.MatchCondition, Commits: a.Commits,
			RegexTarget: a.RegexTarget, Regexes: a.Regexes, StopWords: a.StopWords,
		}
		if err := c.Validate(); err != nil {
			return nil, nil, fmt.Errorf("copying allowlist %q: %w", a.Description, err)
		}
		rest = append(rest, c)
	}
	return rest, paths, nil
}

// pathAllowed reports whether the global allowlists skip path, as they
// skip images, lock files and vendored dependencies.
func (d *Detector) pathAllowed(path string) bool { return anyPathAllowed(d.pathAllowlists, path) }

func anyPathAllowed(as []*config.Allowlist, path string) bool {
	for _, a := range as {
		if a.PathAllowed(path) {
			return true
		}
	}
	return false
}

// keyedReach reports whether r can run only near its keywords, and how
// many newlines its matches can span.
func keyedReach(r config.Rule) (int, bool, error) {
	if r.Regex == nil || len(r.Keywords) == 0 || len(r.RequiredRules) > 0 || r.SkipReport {
		return 0, false, nil
	}
	re, err := syntax.Parse(r.Regex.String(), syntax.Perl)
	if err != nil {
		return 0, false, fmt.Errorf("parsing regexp: %w", err)
	}
	reach := maxNewlines(re)
	if reach > maxReach {
		return 0, false, nil
	}
	kws := make([]string, len(r.Keywords))
	for i, k := range r.Keywords {
		kws[i] = strings.ToLower(k)
	}
	return reach, keywordFirst(re, kws), nil
}

// newGitleaks returns a gitleaks detector over cfg. It reports findings on
// lines marked gitleaks:allow: the gate decides about those itself.
func newGitleaks(cfg config.Config, decodeDepth int) *detect.Detector {
	d := detect.NewDetector(cfg)
	d.MaxDecodeDepth = decodeDepth
	d.IgnoreGitleaksAllow = true
	return d
}

// subConfig returns cfg with only the rules ids, keeping the global
// allowlists.
func subConfig(cfg config.Config, ids ...string) config.Config {
	out := cfg
	out.Rules = make(map[string]config.Rule, len(ids))
	out.Keywords = map[string]struct{}{}
	out.OrderedRules = ids
	for _, id := range ids {
		r := cfg.Rules[id]
		out.Rules[id] = r
		for _, k := range r.Keywords {
			out.Keywords[strings.ToLower(k)] = struct{}{}
		}
	}
	return out
}
