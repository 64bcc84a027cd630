// Package dlp finds secrets in outbound text: the exact values the sidecar
// holds, in the encodings an agent could use to smuggle them (known
// secrets), and credential-shaped strings from gitleaks' rule set (token
// patterns). It decides nothing: callers turn findings into block, redact
// or supervise. A Finding never carries the secret it found.
package dlp

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Detector names, as in manifests.
const (
	TokenPatterns = "token_patterns"
	KnownSecrets  = "known_secrets"
)

// MinSecretLen is the shortest value searched for in its derived forms;
// shorter values would match ordinary text.
const MinSecretLen = 8

// Secret is a value the sidecar holds, the slot it came in and the hosts it
// belongs to.
type Secret struct {
	Slot  string
	Value secret.Value
	Hosts []string
}

// Finding is one secret found on one surface of a request.
type Finding struct {
	Detector string
	// Rule is the gitleaks rule, or the form of a known secret (plain,
	// base64, hex, url, stripped).
	Rule string
	// Slot names the known secret found, if any.
	Slot string
	// Hosts are the hosts a known secret belongs to.
	Hosts []string
	// Surface is where: host, path, query, header NAME, or body.
	Surface string

	// text is the matched text, kept for redaction only.
	text string
}

// Text returns the matched text, for redaction. Never log it.
func (f Finding) Text() string { return f.text }

type needle struct {
	text, form string
	s          *Secret
}

// Scanner holds the needles of the known secrets and the pattern detector.
// It is safe for concurrent use.
type Scanner struct {
	needles  []needle
	stripped []needle
}

// New builds a scanner for the given secrets.
func New(secrets []Secret) *Scanner {
	sc := &Scanner{}
	for i := range secrets {
		s := &secrets[i]
		v := s.Value.Reveal()
		if v == "" {
			continue
		}
		add := func(form, text string) {
			if text != "" && !containsNeedle(sc.needles, text) {
				sc.needles = append(sc.needles, needle{text: text, form: form, s: s})
			}
		}
		add("plain", v)
		if len(v) < MinSecretLen {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for _, core := range base64Cores(enc, v) {
				add("base64", core)
			}
		}
		add("hex", hex.EncodeToString([]byte(v)))
		add("hex", strings.ToUpper(hex.EncodeToString([]byte(v))))
		add("url", url.QueryEscape(v))
		add("url", url.PathEscape(v))
		add("url", percentAll(v))
		if st := strip(v); len(st) >= MinSecretLen {
			sc.stripped = append(sc.stripped, needle{text: st, form: "stripped", s: s})
		}
	}
	return sc
}

func containsNeedle(ns []needle, text string) bool {
	for _, n := range ns {
		if n.text == text {
			return true
		}
	}
	return false
}

// base64Cores returns, for each of the three alignments a value can have
// inside a longer base64 stream, the part of its encoding that does not
// depend on the neighbouring bytes.
func base64Cores(enc *base64.Encoding, v string) []string {
	var out []string
	for k := range 3 {
		e := enc.WithPadding(base64.NoPadding).EncodeToString(append(make([]byte, k), v...))
		skip := 0
		if k > 0 {
			skip = (k*8 + 5) / 6
		}
		keep := (len(v) + k) * 8 / 6 // characters fully determined by the value
		if keep <= skip+4 {
			continue
		}
		out = append(out, e[skip:keep])
	}
	return out
}

// percentAll percent-encodes every byte, the form no encoder produces but
// every decoder accepts.
func percentAll(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		b.WriteString("%")
		b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{v[i]})))
	}
	return b.String()
}

// strip keeps letters and digits only, so that a value split by
// separators (dashes, dots, spaces, newlines) still matches.
func strip(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ScanKnown looks for the known secrets in text, found on surface.
func (sc *Scanner) ScanKnown(surface, text string) []Finding {
	if len(sc.needles) == 0 || text == "" {
		return nil
	}
	var out []Finding
	seen := map[*Secret]bool{}
	for _, n := range sc.needles {
		if !seen[n.s] && strings.Contains(text, n.text) {
			seen[n.s] = true
			out = append(out, Finding{Detector: KnownSecrets, Rule: n.form, Slot: n.s.Slot, Hosts: n.s.Hosts, Surface: surface, text: n.text})
		}
	}
	if len(sc.stripped) > 0 {
		st := strip(text)
		for _, n := range sc.stripped {
			if !seen[n.s] && strings.Contains(st, n.text) {
				seen[n.s] = true
				out = append(out, Finding{Detector: KnownSecrets, Rule: n.form, Slot: n.s.Slot, Hosts: n.s.Hosts, Surface: surface})
			}
		}
	}
	return out
}

var (
	patternsOnce, decodingOnce sync.Once
	// plainPatterns runs the rules as written; decodingPatterns also
	// decodes base64, hex and percent-encoded segments first (one level),
	// which costs several times more and is kept for bodies. It shares the
	// compiled rules but has its own keyword index (2.5 MB), so it is built
	// on the first body scan rather than at start.
	plainPatterns, decodingPatterns *detect.Detector
	patternsErr                     error
)

func patternDetector(decoding bool) (*detect.Detector, error) {
	patternsOnce.Do(func() {
		var d *detect.Detector
		if d, patternsErr = LoadGitleaks(); patternsErr != nil {
			return
		}
		plainPatterns = detect.NewDetector(vendorRules(d.Config))
		plainPatterns.MaxDecodeDepth = 0
	})
	if patternsErr != nil || !decoding {
		return plainPatterns, patternsErr
	}
	decodingOnce.Do(func() {
		decodingPatterns = detect.NewDetector(plainPatterns.Config)
		decodingPatterns.MaxDecodeDepth = 1
	})
	return decodingPatterns, nil
}

// droppedRules are gitleaks rules the proxy does not run. generic-api-key
// matches any long value next to a word like "key" or "token": in agent
// traffic (code sent to model APIs) it fires on ordinary source, and its
// stop-word tables are two thirds of the rule set's memory. Known secrets
// cover the credentials the bottle actually holds.
var droppedRules = []string{"generic-api-key"}

// vendorRules returns cfg without the dropped rules, its keyword index
// rebuilt from the rules that remain.
func vendorRules(cfg config.Config) config.Config {
	out := cfg
	out.Rules = make(map[string]config.Rule, len(cfg.Rules))
	out.Keywords = map[string]struct{}{}
	out.OrderedRules = nil
	for _, id := range cfg.OrderedRules {
		if slices.Contains(droppedRules, id) {
			continue
		}
		r := cfg.Rules[id]
		out.Rules[id] = r
		out.OrderedRules = append(out.OrderedRules, id)
		for _, k := range r.Keywords {
			out.Keywords[strings.ToLower(k)] = struct{}{}
		}
	}
	return out
}

var (
	gitleaksMu    sync.Mutex
	gitleaksQuiet sync.Once
)

// LoadGitleaks returns a detector with gitleaks' default rules, a fresh
// copy for each caller. Every package loading gitleaks must come through
// here: gitleaks reads its config through viper's global instance, which
// is not safe for concurrent use, and logs through a global logger,
// silenced here once, before any detector exists to read it, because
// bot-bottle logs through slog and must never print what a rule matched.
func LoadGitleaks() (*detect.Detector, error) {
	gitleaksMu.Lock()
	defer gitleaksMu.Unlock()
	gitleaksQuiet.Do(func() { logging.Logger = zerolog.Nop() })
	return detect.NewDetectorDefaultConfig()
}

// Warm loads the pattern rules (about 30 ms) ahead of the first scan.
func Warm() { _, _ = patternDetector(false) }

// patternSlots bounds concurrent pattern scans: they are CPU-bound, and
// each concurrent scan makes every rule's regexp keep another matcher.
var patternSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// ScanPatterns runs gitleaks' default rules over text found on surface.
// With decoding, encoded segments are decoded and scanned too.
func ScanPatterns(surface, text string, decoding bool) ([]Finding, error) {
	if text == "" {
		return nil, nil
	}
	d, err := patternDetector(decoding)
	if err != nil {
		return nil, err
	}
	patternSlots <- struct{}{}
	found := d.DetectString(text)
	<-patternSlots
	var out []Finding
	for _, f := range found {
		out = append(out, Finding{Detector: TokenPatterns, Rule: f.RuleID, Surface: surface, text: f.Secret})
	}
	return out, nil
}
