package manifest

import (
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// agentDocKeys are Claude Code subagent keys that only describe the
// agent: accepted and skipped, so one file can serve as both.
var agentDocKeys = []string{"name", "description"}

// agentUnusedKeys are Claude Code subagent keys bot-bottle accepts but
// does not apply; validate says so rather than let them look enforced.
var agentUnusedKeys = map[string]string{
	"tools":  "the agent CLI's tools are not restricted by bot-bottle: the bottle (egress, git gate, workspace) is the boundary",
	"memory": "bot-bottle does not configure the CLI's memory; keep notes in the workspace or the prompt",
}

// modelRE is a model name as the CLIs take it ("claude-sonnet-4-5",
// "gpt-5-codex", "qwen2.5-coder:7b", "sonnet[1m]"). It starts with a
// letter or digit, so that it cannot read as a command-line flag.
var modelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+\[\]-]{0,127}$`)

// LabelColors are the colors a bottle's label may have (start --color, an
// agent's color).
var LabelColors = []string{"blue", "cyan", "green", "magenta", "red", "white", "yellow"}

func (r *reader) decodeAgent(top *yaml.Node, a *Agent) {
	bottleOnly := map[string]string{}
	for k, hint := range retiredBottleKeys {
		bottleOnly[k] = "agent: key " + k + " was retired (" + hint + "), and what replaced it is bottle-only: agents cannot change the security boundary"
	}
	bottleOnly["git"] = "agent: key git was renamed git-gate; an agent may set only git-gate.user {name, email}"
	for _, k := range []string{"env", "egress", "extends", "agent_provider", "resources", "workspace", "mcp_servers"} {
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
			{"model", func(_, v *yaml.Node) {
				s, ok := r.str(v, "model")
				if !ok || s == "" {
					return
				}
				if !modelRE.MatchString(s) {
					r.errorf(v, "model %q is not a model name (letters, digits and ._:/@+[]-, starting with a letter or digit, at most 128)", s)
					return
				}
				a.Model = set(s, r.pos(v))
			}},
			{"color", func(_, v *yaml.Node) {
				s, ok := r.str(v, "color")
				if !ok || s == "" {
					return
				}
				if !slices.Contains(LabelColors, s) {
					r.warnf(v, "color %q is not shown: list active paints a label %s", s, strings.Join(LabelColors, ", "))
					return
				}
				a.Color = set(s, r.pos(v))
			}},
		},
		ignored:   agentDocKeys,
		forbidden: bottleOnly,
		warned:    agentUnusedKeys,
	})
}
