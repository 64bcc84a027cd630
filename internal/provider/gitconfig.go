package provider

import (
	"fmt"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// gitConfig renders the agent's ~/.gitconfig: the git identity when the
// bottle or agent sets one, the workspace marked safe (a mounted tree is
// owned by the host user, not the agent), and the rewrites that send
// declared upstreams to the git gate.
//
// Extension point: the git gate adds its rules through
// Options.GitRewrites; nothing else here needs to change.
func gitConfig(u manifest.GitUser, workspace string, rewrites []GitRewrite) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Written by bot-bottle at start.\n")
	if u.Name.V != "" || u.Email.V != "" {
		b.WriteString("[user]\n")
		if err := gitEntry(&b, "name", u.Name.V); err != nil {
			return nil, err
		}
		if err := gitEntry(&b, "email", u.Email.V); err != nil {
			return nil, err
		}
	}
	if workspace != "" {
		b.WriteString("[safe]\n")
		if err := gitEntry(&b, "directory", workspace); err != nil {
			return nil, err
		}
	}
	for _, r := range rewrites {
		sub, err := gitQuote(r.Base)
		if err != nil || r.Base == "" {
			return nil, fmt.Errorf("gitconfig: url rewrite base %q: not a URL git can hold", r.Base)
		}
		fmt.Fprintf(&b, "[url %s]\n", sub)
		if err := gitEntry(&b, "insteadOf", r.InsteadOf); err != nil {
			return nil, err
		}
	}
	return []byte(b.String()), nil
}

// gitEntry writes key = "value" in the current section; an empty value
// writes nothing.
func gitEntry(b *strings.Builder, key, value string) error {
	if value == "" {
		return nil
	}
	q, err := gitQuote(value)
	if err != nil {
		return fmt.Errorf("gitconfig: %s: %w", key, err)
	}
	fmt.Fprintf(b, "\t%s = %s\n", key, q)
	return nil
}

// gitQuote quotes s as a git config value or subsection name. Control
// characters are refused: a line break would let a value start a section
// of its own, and subsection names have no escape for the others.
func gitQuote(s string) (string, error) {
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%q holds a control character", s)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`, nil
}
