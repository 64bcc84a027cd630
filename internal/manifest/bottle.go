package manifest

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeBottle decodes a bottle's frontmatter into b.
func (r *reader) decodeBottle(top *yaml.Node, b *Bottle) {
	r.mapping(top, fields{
		where: "bottle",
		list: []field{
			{"version", r.version},
			{"extends", func(_, v *yaml.Node) { b.Extends = r.extends(v) }},
			{"env", func(_, v *yaml.Node) { r.env(v, b) }},
			{"agent_provider", func(_, v *yaml.Node) { r.provider(v, &b.Provider) }},
			{"git-gate", func(_, v *yaml.Node) { r.gitGate(v, &b.GitGate, &b.reposClear, true) }},
			{"egress", func(_, v *yaml.Node) { r.egress(v, b) }},
			{"resources", func(_, v *yaml.Node) { r.resources(v, &b.Resources) }},
			{"workspace", func(_, v *yaml.Node) { r.workspace(v, &b.Workspace) }},
			{"mcp_servers", func(_, v *yaml.Node) { r.mcpServers(v, b) }},
		},
		retired: retiredBottleKeys,
	})
}

func (r *reader) version(_, v *yaml.Node) {
	n, ok := r.integer(v, "version")
	if ok && n != 1 {
		r.errorf(v, "manifest version %d is not supported (supported: 1)", n)
	}
}

func (r *reader) extends(v *yaml.Node) []Value[string] {
	var out []Value[string]
	add := func(n *yaml.Node) {
		s, ok := r.str(n, "extends entry")
		switch {
		case !ok:
		case !ValidName(s):
			r.errorf(n, "extends: %q is not a bottle name (lowercase letters, digits and -, starting with a letter)", s)
		default:
			out = append(out, set(s, r.pos(n)))
		}
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if !isNull(v) {
			add(v)
		}
	case yaml.SequenceNode:
		for _, c := range v.Content {
			add(c)
		}
	default:
		r.errorf(v, "extends must be a bottle name or a list of names, not %s", describe(v))
	}
	return out
}

func (r *reader) env(v *yaml.Node, b *Bottle) {
	if isEmpty(v) {
		b.envClear = true
		return
	}
	if v.Kind != yaml.MappingNode {
		r.errorf(v, "env must be a mapping of NAME: value, not %s", describe(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		switch {
		case removed(val):
			continue
		case !envNameRE.MatchString(k.Value):
			r.errorf(k, "env: %q is not a variable name (letters, digits and _, not starting with a digit)", k.Value)
			continue
		case isReservedEnv(k.Value):
			r.errorf(k, "env: %s is set by bot-bottle in every bottle and cannot be overridden", k.Value)
			continue
		}
		if isNull(val) {
			// An explicit empty value removes an inherited variable.
			b.Env = append(b.Env, EnvVar{Name: k.Value, At: r.pos(k)})
			continue
		}
		s, ok := r.str(val, "env."+k.Value)
		if !ok {
			continue
		}
		ev, err := parseEnvValue(s)
		if err != nil {
			r.errorf(val, "env.%s: %v", k.Value, err)
			continue
		}
		b.Env = append(b.Env, EnvVar{Name: k.Value, Value: ev, At: r.pos(k)})
	}
}

// cliVersionRE is an npm release version: MAJOR.MINOR.PATCH with an
// optional pre-release.
var cliVersionRE = regexp.MustCompile(`^[0-9]{1,6}\.[0-9]{1,6}\.[0-9]{1,6}(-[0-9A-Za-z][0-9A-Za-z.-]{0,63})?$`)

func (r *reader) provider(v *yaml.Node, p *Provider) {
	r.mapping(v, fields{
		where: "agent_provider",
		list: []field{
			{"template", func(_, v *yaml.Node) {
				s, ok := r.str(v, "agent_provider.template")
				if ok && s != "" && !slices.Contains(Templates, s) {
					r.errorf(v, "agent_provider.template %q is not a provider; allowed: %s", s, strings.Join(Templates, ", "))
					return
				}
				if ok {
					p.Template = set(s, r.pos(v))
				}
			}},
			{"dockerfile", func(_, v *yaml.Node) {
				if s, ok := r.str(v, "agent_provider.dockerfile"); ok {
					p.Dockerfile = set(s, r.pos(v))
				}
			}},
			{"settings", func(_, v *yaml.Node) { r.piSettings(v, p) }},
			{"forward_host_credentials", func(_, v *yaml.Node) {
				if on, ok := r.boolean(v, "agent_provider.forward_host_credentials"); ok {
					p.ForwardHostCredentials = set(on, r.pos(v))
				}
			}},
			{"cli_version", func(_, v *yaml.Node) {
				s, ok := r.str(v, "agent_provider.cli_version")
				if !ok || s == "" {
					return
				}
				if !cliVersionRE.MatchString(s) {
					r.errorf(v, "agent_provider.cli_version %q is not a release version such as 2.1.197 (a pin: latest or a range would change the image under you)", s)
					return
				}
				p.CLIVersion = set(s, r.pos(v))
			}},
			{"auth_token", func(_, v *yaml.Node) {
				s, ok := r.str(v, "agent_provider.auth_token")
				if ok && s != "" {
					if err := checkVarName(s); err != nil {
						r.errorf(v, "agent_provider.auth_token %v", err)
						return
					}
				}
				if ok {
					p.AuthToken = set(s, r.pos(v))
				}
			}},
		},
	})
}

func (r *reader) piSettings(v *yaml.Node, p *Provider) {
	if isEmpty(v) {
		p.Settings = set[*PiSettings](nil, r.pos(v))
		return
	}
	s := &PiSettings{}
	noKey := "the agent never holds model keys: add an egress route for the base_url host with auth {scheme: Bearer, token_ref: VAR}"
	ok := r.mapping(v, fields{
		where: "agent_provider.settings",
		list: []field{
			{"provider", func(_, v *yaml.Node) { s.Provider, _ = r.str(v, "settings.provider") }},
			{"api", func(_, v *yaml.Node) { s.API, _ = r.str(v, "settings.api") }},
			{"base_url", func(_, v *yaml.Node) {
				u, ok := r.str(v, "settings.base_url")
				if !ok {
					return
				}
				if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.User != nil {
					r.errorf(v, "settings.base_url %q must be an http:// or https:// URL without credentials", redactUserinfo(u))
					return
				}
				s.BaseURL = u
			}},
			{"models", func(_, v *yaml.Node) { s.Models, _, _ = r.strList(v, "settings.models") }},
		},
		retired: map[string]string{"api_key": noKey, "api_key_env": noKey},
	})
	if ok {
		p.Settings = set(s, r.pos(v))
	}
}

// gitGate decodes a git-gate block. Agents may set only user.
func (r *reader) gitGate(v *yaml.Node, g *GitGate, reposClear *bool, bottle bool) {
	fs := fields{
		where: "git-gate",
		list:  []field{{"user", func(_, v *yaml.Node) { r.gitUser(v, &g.User) }}},
	}
	if bottle {
		fs.list = append(fs.list, field{"repos", func(_, v *yaml.Node) { r.repos(v, g, reposClear) }})
	} else {
		fs.forbidden = map[string]string{"repos": "agent: git-gate.repos " + bottleOnlyHint}
	}
	r.mapping(v, fs)
}

func (r *reader) gitUser(v *yaml.Node, u *GitUser) {
	r.mapping(v, fields{
		where: "git-gate.user",
		list: []field{
			{"name", func(_, v *yaml.Node) {
				if s, ok := r.str(v, "git-gate.user.name"); ok && r.oneLine(v, s) {
					u.Name = set(s, r.pos(v))
				}
			}},
			{"email", func(_, v *yaml.Node) {
				if s, ok := r.str(v, "git-gate.user.email"); ok && r.oneLine(v, s) {
					if s != "" && (!strings.Contains(s, "@") || strings.ContainsAny(s, " <>")) {
						r.errorf(v, "git-gate.user.email %q is not an email address", s)
						return
					}
					u.Email = set(s, r.pos(v))
				}
			}},
		},
	})
}

// oneLine refuses values that would break out of the config files they are
// rendered into (e.g. ~/.gitconfig).
func (r *reader) oneLine(v *yaml.Node, s string) bool {
	if strings.ContainsAny(s, "\n\r\x00") {
		r.errorf(v, "value must be a single line")
		return false
	}
	return true
}

func (r *reader) repos(v *yaml.Node, g *GitGate, cleared *bool) {
	if isEmpty(v) {
		*cleared = true
		return
	}
	if v.Kind != yaml.MappingNode {
		r.errorf(v, "git-gate.repos must be a mapping of repository names to entries, not %s", describe(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if !repoNameRE.MatchString(k.Value) || k.Value == "." || k.Value == ".." {
			r.errorf(k, "git-gate.repos: %q is not a repository name (letters, digits, ., _ and -)", k.Value)
			continue
		}
		g.Repos = append(g.Repos, r.repo(k, val))
	}
}

func (r *reader) repo(k, v *yaml.Node) Repo {
	name := k.Value
	rp := Repo{Name: name, At: r.pos(k)}
	where := "git-gate.repos." + name
	r.mapping(v, fields{
		where: where,
		list: []field{
			{"url", func(_, v *yaml.Node) {
				s, ok := r.str(v, where+".url")
				if !ok {
					return
				}
				u, err := parseRepoURL(s)
				if err != nil {
					r.errorf(v, "%s.url: %v", where, err)
					return
				}
				rp.URL = set(u, r.pos(v))
			}},
			{"key", func(_, v *yaml.Node) {
				if key, ok := r.repoKey(v, where+".key"); ok {
					rp.Key = set(key, r.pos(v))
				}
			}},
			{"host_key", func(_, v *yaml.Node) {
				s, ok := r.str(v, where+".host_key")
				if !ok {
					return
				}
				if s != "" {
					k, err := checkHostKey(s)
					if err != nil {
						r.errorf(v, "%s.host_key: %v", where, err)
						return
					}
					s = k
				}
				rp.HostKey = set(s, r.pos(v))
			}},
			{"branches", func(_, v *yaml.Node) {
				list, nodes, ok := r.strList(v, where+".branches")
				for i, p := range list {
					if err := CheckBranchPattern(p); err != nil {
						r.errorf(nodes[i], "%s.branches: %v", where, err)
						ok = false
					}
				}
				if ok {
					rp.Branches = set(list, r.pos(v))
				}
			}},
			{"protected_paths", func(_, v *yaml.Node) {
				list, nodes, ok := r.strList(v, where+".protected_paths")
				for i, p := range list {
					if err := CheckPathPattern(p); err != nil {
						r.errorf(nodes[i], "%s.protected_paths: %v", where, err)
						ok = false
					}
				}
				if ok {
					rp.ProtectedPaths = set(list, r.pos(v))
				}
			}},
			{"max_push_bytes", func(_, v *yaml.Node) {
				if n, ok := r.size(v, where+".max_push_bytes"); ok {
					rp.MaxPushBytes = set(n, r.pos(v))
				}
			}},
		},
		retired: retiredRepoKeys,
	})
	return rp
}

func (r *reader) repoKey(v *yaml.Node, where string) (RepoKey, bool) {
	if v.Kind != yaml.MappingNode {
		r.errorf(v, "%s must be a mapping {provider: static, path: FILE} or {provider: gitea, forge_token_env: VAR}, not %s", where, describe(v))
		return RepoKey{}, false
	}
	var k RepoKey
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value == "provider" {
			k.Provider, _ = r.str(v.Content[i+1], where+".provider")
			if k.Provider != KeyProviderStatic && k.Provider != KeyProviderGitea {
				r.errorf(v.Content[i+1], "%s.provider %q is not a key provider; allowed: static, gitea", where, k.Provider)
				return k, false
			}
		}
	}
	if k.Provider == "" {
		r.errorf(v, "%s needs provider: static (with path) or gitea (with forge_token_env)", where)
		return k, false
	}
	fs := fields{where: where + " (provider " + k.Provider + ")", list: []field{{"provider", func(_, _ *yaml.Node) {}}}}
	if k.Provider == KeyProviderStatic {
		fs.list = append(fs.list, field{"path", func(_, v *yaml.Node) { k.Path, _ = r.str(v, where+".path") }})
	} else {
		fs.list = append(fs.list,
			field{"forge_token_env", func(_, v *yaml.Node) {
				s, _ := r.str(v, where+".forge_token_env")
				if s != "" {
					if err := checkVarName(s); err != nil {
						r.errorf(v, "%s.forge_token_env %v", where, err)
					}
				}
				k.ForgeTokenEnv = s
			}},
			field{"api_url", func(_, v *yaml.Node) {
				s, _ := r.str(v, where+".api_url")
				if pu, err := url.Parse(s); s != "" && (err != nil || pu.Scheme != "https" || pu.Host == "" || pu.User != nil) {
					r.errorf(v, "%s.api_url %q must be an https:// URL without credentials (the token comes from forge_token_env)", where, redactUserinfo(s))
				}
				k.APIURL = s
			}})
	}
	before := len(*r.ds)
	r.mapping(v, fs)
	switch {
	case k.Provider == KeyProviderStatic && k.Path == "":
		r.errorf(v, "%s: provider static needs path: the host SSH private key file", where)
	case k.Provider == KeyProviderGitea && k.ForgeTokenEnv == "":
		r.errorf(v, "%s: provider gitea needs forge_token_env: the host variable holding the Gitea API token", where)
	}
	return k, len(*r.ds) == before
}

func (r *reader) size(v *yaml.Node, what string) (int64, bool) {
	s, ok := r.str(v, what)
	if !ok {
		return 0, false
	}
	if s == "" {
		return 0, true
	}
	n, err := parseSize(s)
	if err != nil {
		r.errorf(v, "%s: %v", what, err)
		return 0, false
	}
	return n, true
}

func (r *reader) resources(v *yaml.Node, res *Resources) {
	r.mapping(v, fields{
		where: "resources",
		list: []field{
			{"cpus", func(_, v *yaml.Node) {
				s, ok := r.str(v, "resources.cpus")
				if !ok {
					return
				}
				var m int64
				if s != "" {
					var err error
					if m, err = parseCPUs(s); err != nil {
						r.errorf(v, "resources.%v", err)
						return
					}
				}
				res.MilliCPUs = set(m, r.pos(v))
			}},
			{"memory", func(_, v *yaml.Node) {
				n, ok := r.size(v, "resources.memory")
				if ok && n != 0 && n < 16<<20 {
					r.errorf(v, "resources.memory must be at least 16m")
					return
				}
				if ok {
					res.Memory = set(n, r.pos(v))
				}
			}},
			{"pids", func(_, v *yaml.Node) {
				n, ok := r.integer(v, "resources.pids")
				if ok && n != 0 && n < 16 {
					r.errorf(v, "resources.pids must be at least 16 (or empty for no limit)")
					return
				}
				if ok {
					res.Pids = set(n, r.pos(v))
				}
			}},
		},
	})
}

var workspaceModes = []string{WorkspaceMount, WorkspaceCopy, WorkspaceNone}

func (r *reader) workspace(v *yaml.Node, w *Workspace) {
	r.mapping(v, fields{
		where: "workspace",
		list: []field{
			{"mode", func(_, v *yaml.Node) {
				s, ok := r.str(v, "workspace.mode")
				if ok && s != "" && !slices.Contains(workspaceModes, s) {
					r.errorf(v, "workspace.mode %q is not a mode; allowed: %s", s, strings.Join(workspaceModes, ", "))
					return
				}
				if ok {
					w.Mode = set(s, r.pos(v))
				}
			}},
			{"path", func(_, v *yaml.Node) {
				s, ok := r.str(v, "workspace.path")
				if ok && s != "" && (!strings.HasPrefix(s, "/") || path.Clean(s) != s || s == "/") {
					r.errorf(v, "workspace.path %q must be a clean absolute path inside the bottle, e.g. /workspace", s)
					return
				}
				if ok {
					w.Path = set(s, r.pos(v))
				}
			}},
			{"protect", func(_, v *yaml.Node) {
				on, ok := r.boolean(v, "workspace.protect")
				if ok && isNull(v) {
					// An explicit empty value clears what parents set.
					on = DefaultWorkspaceProtect
				}
				if ok {
					w.Protect = set(on, r.pos(v))
				}
			}},
		},
	})
}

// compileRegex checks that a match regex compiles as RE2, anchored the way
// the proxy will use it.
func compileRegex(re string) error {
	_, err := regexp.Compile(re)
	if err == nil {
		_, err = regexp.Compile("^(?:" + re + ")$")
	}
	if err != nil {
		return fmt.Errorf("regex %q does not compile: %v", re, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return nil
}
