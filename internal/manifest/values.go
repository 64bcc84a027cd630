package manifest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

var (
	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	repoNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	tokenRE    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// ValidName reports whether s can name a bottle or agent.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// reservedEnv are variables bot-bottle sets in every bottle; a manifest that
// set them could point the agent around its own proxy or CA.
var reservedEnv = []string{
	"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
	"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
	"CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "CODEX_CA_CERTIFICATE",
}

func isReservedEnv(name string) bool {
	for _, r := range reservedEnv {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// checkVarName validates a field that names a host environment variable.
// Its messages never repeat the value: a value that is not a name is often
// the secret itself, pasted in the wrong place.
func checkVarName(s string) error {
	switch {
	case s == "":
		return errors.New("is empty: name the host environment variable that holds the secret")
	case !envNameRE.MatchString(s):
		return errors.New("must name a host environment variable (letters, digits and _); the value is not shown because it may be the secret itself: put the secret in a host variable and name that variable here")
	case looksLikeSecret(s):
		return errors.New("looks like a credential rather than a variable name (not shown): put the secret in a host variable and name that variable here")
	}
	return nil
}

// secretPrefixes start well-known credential formats.
var secretPrefixes = []string{
	"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "gta-",
	"xoxb-", "xoxp-", "xoxa-", "sk-", "sk_live_", "sk_test_", "rk_live_", "AKIA", "ASIA",
}

// looksLikeSecret reports whether s looks like a credential rather than a
// name. Names are conventionally UPPER_SNAKE; a long mix of lowercase
// letters and digits, or a known token prefix, is treated as a secret.
func looksLikeSecret(s string) bool {
	for _, p := range secretPrefixes {
		if strings.HasPrefix(s, p) && len(s) >= len(p)+8 {
			return true
		}
	}
	lower := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0
	digit := strings.IndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0
	return len(s) >= 20 && lower && digit && !strings.Contains(s, "_")
}

// parseEnvValue classifies an env value: "${NAME}" reads the host, "?" or
// "?message" prompts, anything else is a literal.
func parseEnvValue(s string) (EnvValue, error) {
	switch {
	case strings.HasPrefix(s, "?"):
		return EnvValue{Mode: EnvPrompt, Prompt: strings.TrimSpace(s[1:])}, nil
	case strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}"):
		name := s[2 : len(s)-1]
		if !envNameRE.MatchString(name) {
			return EnvValue{}, fmt.Errorf("not a host variable reference: write ${NAME} with NAME made of letters, digits and _ (the value is not shown)")
		}
		if looksLikeSecret(name) {
			return EnvValue{}, fmt.Errorf("${…} holds what looks like a credential, not a variable name (not shown): put the secret in a host variable and name that variable")
		}
		return EnvValue{Mode: EnvHost, HostVar: name}, nil
	case strings.Contains(s, "${"):
		return EnvValue{}, fmt.Errorf("a host variable must be the whole value: write \"${NAME}\" alone (partial interpolation is not supported)")
	}
	return EnvValue{Mode: EnvLiteral, Literal: s}, nil
}

// checkHost validates a route host: a lowercase DNS name, with no scheme,
// port, path, wildcard or IP literal.
func checkHost(h string) (string, error) {
	switch {
	case h == "":
		return "", fmt.Errorf("host is empty")
	case strings.Contains(h, "://"):
		return "", fmt.Errorf("host %q must be a bare hostname: drop the scheme", h)
	case strings.ContainsAny(h, "/?#"):
		return "", fmt.Errorf("host %q must be a bare hostname: restrict paths with matches instead", h)
	case strings.Contains(h, "*"):
		return "", fmt.Errorf("host %q: wildcards are not supported; list each host", h)
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return "", fmt.Errorf("host %q is an IP literal; routes name hosts, and the proxy refuses IP literals", h)
	}
	if strings.Contains(h, ":") {
		return "", fmt.Errorf("host %q must not carry a port; a route allows the host on any port the proxy serves", h)
	}
	lower := strings.TrimSuffix(strings.ToLower(h), ".")
	if len(lower) > 253 {
		return "", fmt.Errorf("host %q is longer than 253 characters", h)
	}
	for l := range strings.SplitSeq(lower, ".") {
		if !labelRE.MatchString(l) {
			return "", fmt.Errorf("host %q is not a valid DNS name", h)
		}
	}
	// Some resolvers read a numeric or hex last label (127.1, a.0x7f) as an
	// IP address, so such names are refused like IP literals.
	last := lower[strings.LastIndex(lower, ".")+1:]
	if isDecimal(last) || (strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == "") {
		return "", fmt.Errorf("host %q ends in a numeric label that resolvers may read as an IP address", h)
	}
	return lower, nil
}

// parseRepoURL accepts only ssh://user@host[:port]/path.
func parseRepoURL(raw string) (RepoURL, error) {
	u, err := parseRepoURLShown(raw)
	if err != nil {
		return u, errors.New(strings.ReplaceAll(err.Error(), raw, redactUserinfo(raw)))
	}
	return u, nil
}

// redactUserinfo hides the user part of a URL (with or without a scheme)
// before it is shown, unless it is a plain user name such as git. The part
// hidden runs to the last @ of the authority, as URL parsers read it.
func redactUserinfo(raw string) string {
	prefix, rest := "", raw
	if scheme, r, ok := strings.Cut(raw, "://"); ok {
		prefix, rest = scheme+"://", r
	}
	authority := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 || plainUser(authority[:at]) {
		return raw
	}
	return prefix + "…" + rest[at:]
}

var plainUserRE = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// plainUser reports whether u is an ordinary login name, safe to show.
func plainUser(u string) bool { return plainUserRE.MatchString(u) && !looksLikeSecret(u) }

func parseRepoURLShown(raw string) (RepoURL, error) {
	if !strings.Contains(raw, "://") {
		if at, colon := strings.Index(raw, "@"), strings.Index(raw, ":"); at > 0 && colon > at {
			return RepoURL{}, fmt.Errorf("scp-style URL %q is not accepted: write %s", raw, redactUserinfo("ssh://"+raw[:colon]+"/"+strings.TrimPrefix(raw[colon+1:], "/")))
		}
		return RepoURL{}, fmt.Errorf("%q must be ssh://user@host[:port]/path", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return RepoURL{}, fmt.Errorf("%q does not parse: must be ssh://user@host[:port]/path", raw)
	}
	if u.Scheme != "ssh" {
		return RepoURL{}, fmt.Errorf("%q: git-gate forwards over SSH only; use the repository's ssh:// URL", raw)
	}
	if u.User == nil || u.User.Username() == "" {
		return RepoURL{}, fmt.Errorf("%q names no user: write ssh://git@%s%s", raw, u.Host, u.Path)
	}
	if _, has := u.User.Password(); has || !plainUser(u.User.Username()) {
		if !has {
			return RepoURL{}, fmt.Errorf("%q: the user name looks like a credential; git-gate authenticates with a key, write ssh://git@host/path", raw)
		}
		return RepoURL{}, fmt.Errorf("%q holds a password; git-gate authenticates with a key", raw)
	}
	if u.Hostname() == "" {
		return RepoURL{}, fmt.Errorf("%q names no host", raw)
	}
	port := 22
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return RepoURL{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", raw, p)
		}
		port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return RepoURL{}, fmt.Errorf("%q has an empty port", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return RepoURL{}, fmt.Errorf("%q must not carry a query or fragment", raw)
	}
	if p := strings.Trim(u.Path, "/"); p == "" || p == ".git" {
		return RepoURL{}, fmt.Errorf("%q names no repository path", raw)
	}
	if strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") {
		return RepoURL{}, fmt.Errorf("%q: path must not contain .. segments", raw)
	}
	return RepoURL{Raw: raw, User: u.User.Username(), Host: strings.ToLower(u.Hostname()), Port: port, Path: u.Path}, nil
}

// checkHostKey parses a pinned SSH host key ("ssh-ed25519 AAAA… [comment]").
func checkHostKey(s string) (string, error) {
	fields := strings.Fields(s)
	if len(fields) >= 3 && strings.HasPrefix(fields[1], "ssh-") || len(fields) >= 3 && strings.HasPrefix(fields[1], "ecdsa-") {
		return "", fmt.Errorf("looks like a known_hosts line: drop the host name in front and write TYPE BASE64")
	}
	if len(fields) < 2 {
		return "", fmt.Errorf("must be \"TYPE BASE64\" as in known_hosts, e.g. ssh-ed25519 AAAA…")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return "", fmt.Errorf("key data is not base64")
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return "", fmt.Errorf("not an SSH public key: %w", err)
	}
	if key.Type() != fields[0] {
		return "", fmt.Errorf("key type %q does not match key data of type %q", fields[0], key.Type())
	}
	return fields[0] + " " + fields[1], nil
}

// CheckBranchPattern validates a branch glob: "*" does not cross "/",
// "**" does, everything else is literal. The policy package checks with
// it too.
func CheckBranchPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("branch pattern is empty")
	case hasControlChar(p):
		return fmt.Errorf("branch pattern %q holds a control character", p)
	case strings.HasPrefix(p, "refs/"):
		return fmt.Errorf("branch pattern %q: write the branch name without refs/heads/", p)
	}
	if strings.ContainsAny(p, `?[]\`) {
		return fmt.Errorf("branch pattern %q: only * and ** are wildcards; ?, [ ] and \\ are not supported", p)
	}
	return nil
}

// CheckPathPattern validates a protected path pattern: repository-relative,
// "/"-separated, with * and ** globs. The policy package checks with it too.
func CheckPathPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("path pattern is empty")
	case hasControlChar(p):
		return fmt.Errorf("path pattern %q holds a control character", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path pattern %q must be relative to the repository root (drop the leading /)", p)
	case strings.Contains(p, "\\"):
		return fmt.Errorf("path pattern %q: use / as separator", p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("path pattern %q must not contain . or .. segments", p)
		}
	}
	if strings.ContainsAny(p, "?[]") {
		return fmt.Errorf("path pattern %q: only * and ** are wildcards; ? and [ ] are not supported", p)
	}
	return nil
}

func hasControlChar(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// parseSize reads a byte size: a whole number of bytes, or a number with a
// unit (k, m, g, t as powers of 1024, also written KiB, MB, …).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("size %q must be a number with an optional unit (e.g. 512m, 4g, 2GiB)", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q must be a number with an optional unit (e.g. 512m, 4g, 2GiB)", s)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q has an unknown unit; use k, m, g or t", s)
	}
	v := f * mult
	if v > 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if (unit == "" || unit == "b") && strings.Contains(num, ".") {
		return 0, fmt.Errorf("size %q: a byte count must be whole", s)
	}
	return int64(v), nil
}

// sizeUnits are the accepted size suffixes, all powers of 1024.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// parseCPUs reads a CPU count such as 2 or 0.5 into thousandths of a CPU.
func parseCPUs(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(f > 0 && f <= 1024) {
		return 0, fmt.Errorf("cpus %q must be a number of CPUs above 0 and at most 1024, e.g. 2 or 0.5", s)
	}
	m := int64(f*1000 + 0.5)
	if m < 10 {
		return 0, fmt.Errorf("cpus %q is below 0.01", s)
	}
	return m, nil
}
