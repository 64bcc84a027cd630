package dlp

import (
	"html"
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

// signal is one kind of sentence an injection is made of.
type signal uint8

const (
	sOverride  signal = 1 << iota // replaces the agent's instructions
	sAuthority                    // speaks as the system, the developer or a chat turn
	sStealth                      // hides what it asks from the user
	sExfil                        // asks for a credential to be read, shown or sent
	sImage                        // a markdown or HTML image whose URL carries a placeholder
	sExfilDest                    // a secret file or the environment, sent to a remote place
)

// manipulation is what turns a credential request into an attack.
const manipulation = sOverride | sAuthority | sStealth

// The expressions run only on windows around their group's hint words
// (inbound_hints.go): every alternative must contain one of them.
var (
	overrideRE = regexp.MustCompile(`(?i)^(?:<\|im_start\|>\s*system` +
		`|(?:ignore|disregard|forget|override|discard|skip)\s+(?:(?:all|any|each|every|the|your|my|these|those|of)\s+){0,3}` +
		`(?:previous|prior|above|earlier|preceding|former|original|initial|old|system|safety|developer)\s+` +
		`(?:instructions?|prompts?|directions|rules|guidelines|guardrails|context|orders|commands|policies|restrictions|messages)` +
		`|(?:disregard|forget)\s+(?:(?:all|any|everything|your|the)\s+){0,2}(?:instructions|rules|guidelines|you\s+(?:were|have\s+been)\s+told)` +
		`|ignore\s+(?:all|any|your)\s+(?:instructions|rules|guidelines)` +
		`|you\s+are\s+now\s+(?:in\s+)?(?:dan|developer\s+mode|jailbroken|unrestricted|unfiltered|no\s+longer\s+bound)` +
		`|from\s+now\s+on,?\s+you\s+(?:are|will|must|shall|should)` +
		`|(?:new|begin)\s+system\s+prompt|system\s+prompt\s+(?:override|update)` +
		`|(?:these|the\s+following)\s+(?:instructions|rules|directives)\s+(?:supersede|override|take\s+precedence)` +
		`|take\s+precedence\s+over\s+(?:(?:all|any|your|previous|prior|other)\s+){0,3}(?:instructions|rules)` +
		`|override\s+(?:your\s+)?(?:safety|security)\s+(?:rules|instructions|policies)` +
		`|your\s+(?:new|real|actual|true)\s+(?:instructions|task|goal|purpose|objective|mission)\s+(?:is|are)` +
		`|jailbr(?:oken|eak)\s+mode)`)
	// authorityRE's first group is a chat turn, which counts only at the
	// start of a line.
	authorityRE = regexp.MustCompile(`(?i)^(?:((?:assistant|human)\s*:\s*\S)` +
		`|(?:system|admin(?:istrator)?)\s+(?:notice|override|directive)\b` +
		`|(?:system|admin|developer|operator)\s+(?:alert|instructions?|message)\s*[:!\]]` +
		`|(?:attention|note|message)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:ai\s+)?(?:assistants?|agents?|models?|llms?|ai|claude|chatgpt|copilot|gemini)\b` +
		`|<\|\s*(?:system|im_start|im_end|endoftext)\s*\|>` +
		`|</?(?:system|system[_-]prompt|instructions?|admin)\s*>` +
		`|\[/?inst\]|<</?sys>>` +
		`|new\s+(?:instructions|directives)\s*:` +
		`|(?:instructions|message|orders)\s+from\s+(?:the|your)\s+(?:developers?|administrators?|admins?|operators?|creators?|owners?|system)\b` +
		`|developer\s+mode\s+(?:enabled|activated|on)\b)`)
	stealthRE = regexp.MustCompile(`(?i)^(?:` +
		`(?:do\s+not|don'?t|never|must\s+not|should\s+not|shouldn'?t|without)\s+(?:tell|inform|notify|alert|let)(?:ing)?\s+(?:the\s+|your\s+)?(?:user|human|operator|owner|anyone)\b` +
		`|(?:do\s+not|don'?t|never|must\s+not|without)\s+(?:mention|reveal|disclose|acknowledge)(?:ing)?\s+(?:(?:this|these|that|it|them|any|the|of|anything|about)\s+){0,3}` +
		`(?:instructions?|steps?|actions?|requests?|messages?|notice|comments?|to\s+the\s+(?:user|human)|(?:to|with)\s+(?:the\s+|your\s+)?(?:user|human))` +
		`|(?:silently|secretly|quietly|covertly|discreetly|stealthily)\s+(?:\w+\s+){0,3}?` +
		`(?:send|upload|post|run|execute|read|copy|exfiltrate|forward|include|append|add|fetch|curl|transmit|submit|embed|insert|attach|open|cat|email)\b` +
		`|(?:keep|hide)\s+(?:this|these|it|them|the\s+\w+)\s+(?:\w+\s+){0,3}?from\s+(?:the\s+|your\s+)?(?:user|human|operator)` +
		`|user\s+(?:must|should|needs?|will)\s+(?:not|never)\s+(?:know|see|notice|learn|find\s+out|be\s+(?:told|informed|aware|notified))` +
		`|(?:these|this|the\s+following)\s+(?:instructions?|steps?|actions?|message)\s+(?:are|is|must\s+remain|must\s+stay|should\s+remain)\s+(?:confidential|secret|hidden|private|invisible))`)
	// exfilTargetRE: what a credential request asks for, anchored at a
	// target hint. The first group is what ordinary instructions never
	// send anywhere: private keys and the directory that holds them (not
	// known_hosts or config), dotfiles of credentials, the environment.
	exfilTargetRE = regexp.MustCompile(`(?i)^(?:(id_(?:rsa|dsa|ecdsa|ed25519)|\.ssh(?:/(?:id_|\*)|/?(?:[\s"'\x60),;:]|$))|\.env(?:[^\w.-]|\.(?:\W|$)|$)|` +
		`(?:environment|env)\s+var(?:iable)?s\b|printenv|` +
		`\.netrc|\.npmrc|\.pypirc|\.git-credentials|\.aws/credentials|\.kube/config|/etc/shadow|private[\s_-]?keys?|` +
		`\x60env\x60|env\s*\||os\.environ\b|process\.env\b)` +
		`|(?:api|access|secret|ssh|signing)[\s_-]?(?:access[\s_-]?)?keys?|tokens?\b|passwords?|passwd|passphrases?|credentials?|creds\b|secrets?\b` +
		`|\.aws\b|kubeconfig|keychain|wallet)`)
	// destRE: data sent to a remote place, by a verb and a URL, a pipe
	// into a network client or curl's upload options.
	destRE = regexp.MustCompile(`(?i)\b(?:send|post|upload|transmit|submit|exfiltrate|email)\b[^\n]*?` +
		`(?:https?://|\b(?:ngrok|webhook\.site|requestbin|pipedream|burpcollaborator|interact\.sh|oast\.(?:fun|me|live|site|online|pro))` +
		`|\bto\s+(?:our|my|this|the\s+following|an?\s+(?:external|remote))\s+(?:server|endpoint|url|webhook|address|host|site))` +
		`|\|\s*(?:curl|wget|nc)\b|\bcurl\b[^\n]*\s-(?:d|F|T|-data[\w-]*|-upload-file|-form)\b`)
	// pipeRE: what follows a secret file piped into a network client,
	// from the target's last byte on.
	pipeRE = regexp.MustCompile(`^[^\n|]{0,40}\|\s*(?:curl|wget|nc|ncat|socat)\b`)
	// imageRE: an image URL whose query holds a placeholder to fill in
	// (DATA, {secret}, $TOKEN): how injections make a client leak
	// without a tool call. Case matters for the placeholder.
	imageRE = regexp.MustCompile(`^!\[[^\]\n]*\]\(\s*<?https?://[^\s)]*\?[^\s)]*=(?:[A-Z][A-Z_]{2,}[)&\s]|[{<$\[]|%7[bB]|%24|\.\.\.)` +
		`|^(?i:<img)[^>]*(?i:src)\s*=\s*["']?https?://[^"'\s>]*\?[^"'\s>]*=(?:[A-Z][A-Z_]{2,}["'&\s>]|[{<$\[]|%7[bB]|%24)`)
	// cssHiddenRE: an element styled not to show, and the text in it.
	cssHiddenRE = regexp.MustCompile(`(?is)^style\s*=\s*["'][^"']*?` +
		`(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.0*)?(?:px|pt|em|rem|%)?\s*(?:;|["'])|opacity\s*:\s*0(?:\.0*)?\s*(?:;|["']))` +
		`[^>]*>([^<]+)`)
)

// exfilVerbs read, show or send. A credential request is one of them in
// the same clause as a target, shortly before it.
var exfilVerbs = func() map[string]bool {
	m := map[string]bool{}
	for v := range strings.FieldsSeq("read open cat dump print printenv display echo base64 encode exfiltrate send upload post " +
		"leak reveal share email paste include append attach transmit submit collect gather extract steal harvest embed expose " +
		"retrieve obtain grab fetch locate copy") {
		m[v] = true
	}
	return m
}()

// How far past a hint each expression may match, in bytes.
const (
	phraseAfter = 200
	imageAfter  = 1200
	cssAfter    = 4200
	maxComment  = 8 << 10
)

// ScanInjection grades text for prompt injection. High (refused): a
// credential request together with an instruction override, a spoofed
// authority or a demand for secrecy; an override with either of the
// latter; a secret file sent to a remote place; a leaking image URL with
// any of these; an instruction in hidden text (an HTML comment, CSS-hidden
// element, Unicode tag characters) or written with invisible or look-alike
// characters. Any one signal alone is Medium (logged). It returns the
// grade and a short label of what matched.
func ScanInjection(text string) (Confidence, string) {
	h := scanHints(text)
	if !h.any() {
		return None, ""
	}
	var ev evasion
	var tags string
	if h.has(gJSON) {
		// What a client that parses the JSON reads: "\u003csystem\u003e",
		// an "assistant:" turn after "\n".
		text = jsonUnescape(text)
		h = scanHints(text)
	}
	if h.has(gEntity) {
		// What a browser or an HTML-to-text tool shows: "ig&#8203;nore",
		// "&lt;system&gt;".
		text = html.UnescapeString(text)
		h = scanHints(text)
	}
	if h.nonASCII {
		n := normalizeInbound(text)
		text, tags, ev = n.text, n.tags, n.ev
		h = scanHints(text)
	}
	if h.spaced {
		text = collapseSpaced(text)
		ev |= evSpaced
		h = scanHints(text)
	}
	if hasLetters(tags, 3) {
		return High, "text hidden in invisible Unicode tag characters"
	}
	if h.has(gComment) && commentCarries(text) {
		return High, "instruction hidden in an HTML comment"
	}
	if h.has(gStyle) && cssHiddenCarries(text, &h) {
		return High, "instruction hidden in CSS-hidden text"
	}
	sig := signals(text, &h)
	switch {
	case sig == 0 && ev&(evZeroWidth|evHomoglyph) != 0:
		return Medium, ev.String()
	case sig == 0:
		return None, ""
	case ev != 0:
		return High, "instruction written with " + ev.String()
	case sig&sExfil != 0 && sig&sOverride != 0:
		return High, "instruction override with a credential request"
	case sig&sExfil != 0 && sig&sAuthority != 0:
		return High, "spoofed system or developer message with a credential request"
	case sig&sExfil != 0 && sig&sStealth != 0:
		return High, "credential request hidden from the user"
	case sig&sOverride != 0 && sig&(sAuthority|sStealth) != 0:
		return High, "instruction override with a spoofed authority or secrecy"
	case sig&sImage != 0 && sig&(sExfil|manipulation) != 0:
		return High, "image URL built to leak data, with an instruction"
	case sig&sExfilDest != 0:
		return High, "secret file or environment sent to a remote destination"
	}
	return Medium, sig.String()
}

func (s signal) String() string {
	switch {
	case s&sOverride != 0:
		return "jailbreak phrase"
	case s&sExfil != 0:
		return "credential disclosure request"
	case s&sAuthority != 0:
		return "spoofed system or chat-role message"
	case s&sStealth != 0:
		return "instruction to hide steps from the user"
	case s&sImage != 0:
		return "image URL with a placeholder to fill in"
	}
	return ""
}

// signals finds the signals in text, each expression on the windows
// around its hints.
func signals(text string, h *hints) signal {
	var s signal
	if h.has(gOverride) && h.matchAt(text, gOverride, overrideRE, phraseAfter) {
		s |= sOverride
	}
	if h.has(gAuthority) && h.each(gAuthority, func(p int) bool { return authorityAt(text, p) }) {
		s |= sAuthority
	}
	if h.has(gStealth) && h.matchAt(text, gStealth, stealthRE, phraseAfter) {
		s |= sStealth
	}
	if h.has(gTarget) {
		h.each(gTarget, func(p int) bool {
			req, remote := exfilAt(text, p)
			if req {
				s |= sExfil
			}
			if remote {
				s |= sExfilDest
			}
			return remote
		})
	}
	if h.has(gImage) && h.matchAt(text, gImage, imageRE, imageAfter) {
		s |= sImage
	}
	return s
}

// exfilAt reports whether a credential request ends in a target at p,
// and whether it asks for a secret file or the environment to go to a
// remote destination.
func exfilAt(text string, p int) (request, toRemote bool) {
	if p > 0 && isAlnum(text[p-1]) {
		return false, false
	}
	m := exfilTargetRE.FindStringSubmatchIndex(text[p:min(len(text), p+64)])
	if m == nil || publicKey(text[p+m[1]:]) {
		return false, false
	}
	te, strong := p+m[1], m[2] >= 0
	if strong && pipeRE.MatchString(text[te-1:min(len(text), te+80)]) {
		return true, true // "env | curl -d @- https://…"
	}
	vs, ok := verbBefore(text, p)
	if !ok {
		return false, false
	}
	return true, strong && destRE.MatchString(text[vs:min(len(text), te+200)])
}

// verbBefore finds the start of a verb, not negated, in the clause that
// ends at the target starting at ts, at most 90 bytes before it; or curl
// uploading the target ("curl -d @.env").
func verbBefore(w string, ts int) (int, bool) {
	base := max(0, ts-90)
	seg := w[base:ts]
	for _, stop := range []string{". ", ".\n", "\n\n", "! ", "? ", "; "} {
		if i := strings.LastIndex(seg, stop); i >= 0 {
			base += i + len(stop)
			seg = w[base:ts]
		}
	}
	for end := len(seg); end > 0; {
		// The words of seg, last first.
		for end > 0 && !isAlnum(seg[end-1]) {
			end--
		}
		start := end
		for start > 0 && isAlnum(seg[start-1]) {
			start--
		}
		if end > start && exfilVerbs[strings.ToLower(seg[start:end])] && !negated(w[:base+start]) {
			return base + start, true
		}
		end = start
	}
	if at := strings.LastIndexByte(seg, '@'); at >= 0 && !strings.ContainsAny(seg[at:], " \t\n") {
		if c := strings.LastIndex(strings.ToLower(seg[:at]), "curl "); c >= 0 {
			return base + c, true
		}
	}
	return 0, false
}

// negated reports whether the words just before a verb negate it.
func negated(before string) bool {
	before = strings.ToLower(before[max(0, len(before)-24):])
	for _, n := range []string{"not ", "n't ", "never ", "no need to ", "nobody ", "avoid "} {
		if i := strings.LastIndex(before, n); i >= 0 && len(before)-i-len(n) <= 12 {
			return true
		}
	}
	return false
}

// publicKey reports whether the path a match ends in is a public key.
func publicKey(rest string) bool {
	word := rest[:min(len(rest), 48)]
	if i := strings.IndexAny(word, " \t\n\"'\x60)]"); i >= 0 {
		word = word[:i]
	}
	return strings.Contains(word, ".pub")
}

// hiddenSignal reports whether hidden text carries any signal.
func hiddenSignal(t string) bool {
	h := scanHints(t)
	return h.any() && signals(t, &h) != 0
}

// commentCarries reports whether an HTML comment holds an instruction.
func commentCarries(text string) bool {
	for {
		i := strings.Index(text, "<!--")
		if i < 0 {
			return false
		}
		text = text[i+4:]
		end := strings.Index(text, "-->")
		if end < 0 {
			end = len(text)
		}
		if hiddenSignal(text[:min(end, maxComment)]) {
			return true
		}
		text = text[end:]
	}
}

// cssHiddenCarries reports whether an element styled not to show holds
// an instruction.
func cssHiddenCarries(text string, h *hints) bool {
	return h.each(gStyle, func(p int) bool {
		m := cssHiddenRE.FindStringSubmatch(text[p:min(len(text), p+cssAfter)])
		return m != nil && hiddenSignal(m[1])
	})
}

// authorityAt reports a spoofed system, developer or chat-turn message
// at p; a chat turn ("assistant:") only where a line starts.
func authorityAt(text string, p int) bool {
	if p > 0 && isAlnum(text[p-1]) {
		return false
	}
	m := authorityRE.FindStringSubmatchIndex(text[p:min(len(text), p+phraseAfter)])
	if m == nil {
		return false
	}
	if m[2] < 0 {
		return true
	}
	line := text[strings.LastIndexByte(text[:p], '\n')+1 : p]
	return strings.Trim(line, " \t>#*") == ""
}

// hasLetters reports whether s holds a run of at least n ASCII letters.
func hasLetters(s string, n int) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if isASCIILetter(s[i]) {
			if run++; run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
