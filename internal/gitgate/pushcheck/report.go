package pushcheck

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// maxListed caps the findings or paths one rejection lists, so a push of
// vendored test keys does not flood the agent's terminal.
const maxListed = 50

// contentRejections refuses each command whose new commits change a
// protected path, hold a secret (in a file, an object, a name), hold a
// secret marked gitleaks:allow, or hold what git would not write; and
// the whole push when a push option holds a secret.
func (c *Checker) contentRejections(p *gitgate.Push, w *walk, rv *reviewed, ch *channels) []gitgate.Rejection {
	var out []gitgate.Rejection
	for i, cmd := range p.Commands {
		var paths, secrets, allowed []string
		var marks []gitgate.AllowMarked
		for _, h := range w.commitsOf(i) {
			short := h.String()[:10]
			for _, pc := range rv.protected[h] {
				paths = append(paths, fmt.Sprintf("%s %s (%s)", short, pc.describe(), pc.action))
			}
			for _, f := range rv.secrets[h] {
				line := fmt.Sprintf("%s %s rule=%s", short, f.location(), f.rule)
				if f.suppressed {
					allowed = append(allowed, line)
					marks = append(marks, gitgate.AllowMarked{Commit: short, File: f.path, Line: f.line, Rule: f.rule, Reason: f.reason})
				} else {
					secrets = append(secrets, line)
				}
			}
		}
		// A secret found both raw and decoded is listed once.
		secrets, allowed = slices.Compact(secrets), slices.Compact(allowed)
		elsewhere := len(ch.secrets[i]) + len(ch.allowed[i])
		secrets, allowed = append(secrets, ch.secrets[i]...), append(allowed, ch.allowed[i]...)
		if len(paths) > 0 {
			out = append(out, gitgate.Rejection{Ref: cmd.Name, Rule: RuleProtected, Reason: "protected path changed",
				Detail: detail(
					fmt.Sprintf("PUSH REJECTED: new commits change %s protected by this bottle (%s):", plural(len(paths), "path"), patternList(c.protected)),
					paths,
					"Drop these changes from the commits (rewrite them with git rebase -i), then push again.")})
		}
		if objs := ch.objects[i]; len(objs) > 0 {
			out = append(out, gitgate.Rejection{Ref: cmd.Name, Rule: RuleObject, Reason: "object git does not write",
				Detail: detail(
					fmt.Sprintf("PUSH REJECTED: the push holds %s that git does not write:", plural(len(objs), "commit or tag")),
					objs,
					"The gate accepts commits with only the headers "+strings.Join(commitHeaders, ", ")+", an ASCII-compatible encoding and no NUL byte.",
					"Recreate them with git itself (git rebase -i, git commit --amend, git tag -f), then push again.")})
		}
		if len(allowed) > 0 {
			rj := gitgate.Rejection{Ref: cmd.Name, Rule: RuleSuppression, Reason: "gitleaks:allow needs operator approval",
				Detail: detail(
					fmt.Sprintf("PUSH REJECTED: new commits mark %s with gitleaks:allow:", plural(len(allowed), "potential secret")),
					allowed,
					"A gitleaks:allow suppression needs an operator's approval (bot-bottle supervise); without one this push is refused.",
					"Or remove the marker and the secret, rewrite the commits that added them, then push again.")}
			// Only findings in files can be approved: one marked in a
			// commit message, a name or an option is refused outright.
			if len(ch.allowed[i]) == 0 {
				rj.Allowed = slices.Compact(marks)
			}
			out = append(out, rj)
		}
		if len(secrets) > 0 {
			what, rewrite := "new commits add", "Remove each secret and rewrite the commits that added it (git rebase -i, or git commit --amend for the last commit), then push again."
			if elsewhere > 0 {
				what = "the push carries"
				rewrite = "Remove each secret and rewrite the commits, tags or refs that hold it (a message, an author, a file name or a branch name counts as much as a file; git rebase -i, git commit --amend, a new branch name), then push again."
			}
			out = append(out, gitgate.Rejection{Ref: cmd.Name, Rule: RuleSecret, Reason: "secret detected by git-gate",
				Detail: detail(
					fmt.Sprintf("PUSH REJECTED: %s %s:", what, plural(len(secrets), "potential secret")),
					secrets,
					rewrite,
					"Deleting it in a later commit is not enough: the secret would stay in the pushed history.")})
		}
	}
	if opts := append(slices.Clone(ch.secrets[-1]), ch.allowed[-1]...); len(opts) > 0 {
		out = append(out, gitgate.Rejection{Rule: RuleSecret, Reason: "secret detected by git-gate",
			Detail: detail(
				fmt.Sprintf("PUSH REJECTED: the push options carry %s:", plural(len(opts), "potential secret")),
				opts,
				"Push again without those options (git push -o).")})
	}
	return out
}

// detail prefixes a header, the listed items (capped) and footer lines.
func detail(header string, items []string, footer ...string) []string {
	out := []string{prefix + header}
	for i, it := range items {
		if i == maxListed {
			out = append(out, prefix+fmt.Sprintf("... and %d more", len(items)-maxListed))
			break
		}
		out = append(out, prefix+it)
	}
	for _, f := range footer {
		out = append(out, prefix+f)
	}
	return out
}

func (pc pathChange) describe() string {
	switch {
	case pc.action == "renamed":
		return showPath(pc.from) + " -> " + showPath(pc.to)
	case pc.to != "":
		return showPath(pc.to)
	}
	return showPath(pc.from)
}

// location is path:line, or the path alone for a rule that matched it.
// It never shows the secret.
func (f fileFinding) location() string {
	if f.line == 0 {
		return showPath(f.path)
	}
	return showPath(f.path) + ":" + strconv.Itoa(f.line)
}

// showPath quotes a path that holds characters a terminal would act on,
// so a file name cannot forge lines of the gate's messages.
func showPath(p string) string {
	if strings.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(p)
	}
	return p
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
