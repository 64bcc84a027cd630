package pushcheck

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// Rules, as they appear in rejections and the audit log.
const (
	RuleBranch      = "branch-not-allowed"
	RuleTag         = "tag-not-allowed"
	RuleRef         = "ref-not-allowed"
	RuleProtected   = "protected-path"
	RuleSecret      = "secret-detected"
	RuleSuppression = "suppression-needs-approval"
	RuleTooLarge    = "push-too-large"
)

// prefix starts every detail line, so the agent can tell the gate's
// messages from the upstream's.
const prefix = "git-gate: "

// refPolicy checks a command's ref against the policy: branches must
// match Branches, tags may be created but not moved or deleted, and no
// other namespace may be written.
func (c *Checker) refPolicy(p *gitgate.Push, cmd gitgate.Command) (gitgate.Rejection, bool) {
	name := cmd.Name.String()
	switch {
	case cmd.Name.IsBranch():
		branch := strings.TrimPrefix(name, "refs/heads/")
		if c.branchAllowed(p, cmd.Name, branch) {
			return gitgate.Rejection{}, true
		}
		reason := c.branchReason(p)
		return gitgate.Rejection{Ref: cmd.Name, Rule: RuleBranch, Reason: reason, Detail: []string{
			prefix + fmt.Sprintf("%s: %s.", name, reason),
			prefix + c.branchHint(),
		}}, false
	case cmd.Name.IsTag():
		if cmd.Create() {
			return gitgate.Rejection{}, true
		}
		reason := "existing tags cannot be moved"
		if cmd.Delete() {
			reason = "tags cannot be deleted"
		}
		return gitgate.Rejection{Ref: cmd.Name, Rule: RuleTag, Reason: reason, Detail: []string{
			prefix + fmt.Sprintf("%s: %s; create a new tag instead.", name, reason),
		}}, false
	}
	reason := "only branches and tags can be pushed"
	return gitgate.Rejection{Ref: cmd.Name, Rule: RuleRef, Reason: reason, Detail: []string{
		prefix + fmt.Sprintf("%s: %s (refs/heads/, refs/tags/).", name, reason),
	}}, false
}

func (c *Checker) branchAllowed(p *gitgate.Push, ref plumbing.ReferenceName, branch string) bool {
	if c.branches == nil {
		return p.DefaultBranch == "" || ref != p.DefaultBranch
	}
	return matchAny(c.branches, branch)
}

func (c *Checker) branchReason(p *gitgate.Push) string {
	switch {
	case c.branches == nil:
		return fmt.Sprintf("the upstream's default branch %s is not pushable by default", p.DefaultBranch.Short())
	case len(c.branches) == 0:
		return "no branch is pushable from this bottle"
	}
	return "branch not allowed; pushable branches: " + patternList(c.branches)
}

// branchHint tells the agent where it may push instead.
func (c *Checker) branchHint() string {
	const push = "Push your work to a branch this bottle may write, e.g. git push origin HEAD:refs/heads/"
	switch {
	case c.branches == nil:
		return push + "agent/my-change"
	case len(c.branches) == 0:
		return "This bottle may not push any branch; ask the operator to allow one."
	}
	return push + strings.NewReplacer("**", "my-change", "*", "my-change").Replace(c.branches[0].raw)
}

func patternList(ps []pattern) string {
	raws := make([]string, len(ps))
	for i, p := range ps {
		raws[i] = p.raw
	}
	return strings.Join(raws, ", ")
}

func tooLarge(size, limit int64) gitgate.Rejection {
	reason := fmt.Sprintf("push of %s is over the %s limit", byteSize(size), byteSize(limit))
	return gitgate.Rejection{Rule: RuleTooLarge, Reason: reason, Detail: []string{
		prefix + fmt.Sprintf("The push's pack is %d bytes, over this bottle's limit of %d bytes.", size, limit),
		prefix + "Push fewer commits at a time, and keep build outputs and large binaries out of git.",
	}}
}

// byteSize formats n in binary units.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
