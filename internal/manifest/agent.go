package manifest

import (
	"go.yaml.in/yaml/v3"
)

// agentPassthrough are Claude Code subagent keys: accepted and ignored, so
// one file can serve as both.
var agentPassthrough = []string{"name", "description", "model", "color", "memory", "tools"}

func (r *reader) decodeAgent(top *yaml.Node, a *Agent) {
	bottleOnly := map[string]string{}
	for k, hint := range retiredBottleKeys {
		bottleOnly[k] = "agent: key " + k + " was retired (" + hint + "), and what replaced it is bottle-only: agents cannot change the security boundary"
	}
	bottleOnly["git"] = "agent: key git was renamed git-gate; an agent may set only git-gate.user {name, email}"
	for _, k := range []string{"env", "egress", "extends", "agent_provider", "resources", "workspace"} {
		bottleOnly[k] = "agent: " + k + " " + bottleOnlyHint
	}
	r.mapping(top, fields{
		where: "agent",
		list: []field{
			{"version", r.version},
			{"bottle", func(_, v *yaml.Node) {
				s, ok := r.str(v, "bottle")
				if ok && s != "" && !ValidName(s) {
					r.errorf(v, "bottle %q is not a bottle name (lowercase letters, digits and -, starting with a letter)", s)
					return
				}
				if ok {
					a.Bottle = set(s, r.pos(v))
				}
			}},
			{"skills", func(_, v *yaml.Node) {
				list, nodes, _ := r.strList(v, "skills")
				for i, s := range list {
					if !repoNameRE.MatchString(s) || s == "." || s == ".." {
						r.errorf(nodes[i], "skills: %q is not a skill folder name (letters, digits, ., _ and -)", s)
						continue
					}
					a.Skills = append(a.Skills, set(s, r.pos(nodes[i])))
				}
			}},
			{"git-gate", func(_, v *yaml.Node) {
				var g GitGate
				r.gitGate(v, &g, nil, false)
				a.GitUser = g.User
			}},
		},
		ignored:   agentPassthrough,
		forbidden: bottleOnly,
	})
}
