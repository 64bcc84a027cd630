package dlp

import (
	"regexp"
	"strings"
)

// NaiveInjection is the inbound detector's name, as in manifests.
const NaiveInjection = "naive_injection_detection"

// Confidence grades an inbound finding.
type Confidence int

// Confidence levels: None finds nothing; Medium is logged; High is refused.
const (
	None Confidence = iota
	Medium
	High
)

func (c Confidence) String() string {
	return [...]string{"none", "medium", "high"}[c]
}

var (
	// jailbreak phrases try to replace the agent's instructions.
	jailbreakRE = regexp.MustCompile(`(?i)<\|im_start\|>\s*system|\b(?:` +
		`ignore\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier|preceding)\s+(?:instructions|prompts|directions|rules)` +
		`|disregard\s+(?:all\s+|any\s+|your\s+|the\s+)?(?:previous\s+|prior\s+)?(?:instructions|rules|guidelines)` +
		`|forget\s+(?:all\s+|your\s+)?(?:previous\s+|prior\s+)?instructions` +
		`|you\s+are\s+now\s+(?:in\s+)?(?:dan|developer\s+mode|jailbroken|unrestricted)` +
		`|new\s+system\s+prompt|begin\s+system\s+prompt` +
		`|override\s+(?:your\s+)?(?:safety|security)\s+(?:rules|instructions|policies))`)
	// disclosure asks for a credential to be sent or shown.
	disclosureRE = regexp.MustCompile(`(?i)\b(?:send|post|upload|exfiltrate|leak|reveal|print|cat|share|email|paste|curl|include)\b[^.\n]{0,80}?` +
		`(?:api[\s_-]?keys?|tokens?|passwords?|secrets?|credentials?|private\s+keys?|id_rsa|id_ed25519|\.env\b|aws_secret|ssh\s+keys?|\.ssh/|\.netrc|cookies?)`)
	// injectionHints are cheap substrings that every match contains; text
	// without any of them is not run through the expressions.
	injectionHints = []string{"ignore", "disregard", "forget", "you are now", "system prompt", "im_start", "override",
		"send", "post", "upload", "exfiltrat", "leak", "reveal", "print", "cat ", "share", "email", "paste", "curl", "include"}
)

// hintsByFirst indexes injectionHints by their first byte.
var hintsByFirst = func() (t [256][]string) {
	for _, h := range injectionHints {
		t[h[0]] = append(t[h[0]], h)
	}
	return t
}()

// hinted reports whether text holds any injection hint, ignoring ASCII
// case, in one pass and without copying the text.
func hinted(text string) bool {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		for _, h := range hintsByFirst[c] {
			if len(text)-i >= len(h) && strings.EqualFold(text[i:i+len(h)], h) {
				return true
			}
		}
	}
	return false
}

// ScanInjection grades text for prompt injection: a jailbreak phrase
// together with a request to disclose a credential is High; either alone
// is Medium. It returns the grade and a short label of what matched.
func ScanInjection(text string) (Confidence, string) {
	if !hinted(text) {
		return None, ""
	}
	jb := jailbreakRE.MatchString(text)
	dc := disclosureRE.MatchString(text)
	switch {
	case jb && dc:
		return High, "jailbreak phrase with a credential disclosure request"
	case jb:
		return Medium, "jailbreak phrase"
	case dc:
		return Medium, "credential disclosure request"
	}
	return None, ""
}
