package manifest

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MCPServer is an MCP server a bottle gives its agent CLI, written into
// the CLI's configuration. It is authority: a stdio server runs inside
// the bottle as the agent (Command), a remote one is reached through the
// egress proxy and needs a route for its host (URL). Neither holds a
// credential: a remote server's goes in its route's auth.
type MCPServer struct {
	Name    string            `json:"name"`
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	URL     string            `json:"url,omitempty"`
	At      Pos               `json:"-"`
}

// SuperviseMCPName is the name of bot-bottle's own server (supervise),
// which a bottle cannot take.
const SuperviseMCPName = "bot-bottle"

// mcpNameRE is an MCP server's name: a TOML bare key and a JSON key that
// every CLI takes as it is.
var mcpNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

func (r *reader) mcpServers(v *yaml.Node, b *Bottle) {
	if isEmpty(v) {
		b.mcpClear = true
		return
	}
	if v.Kind != yaml.MappingNode {
		r.errorf(v, "mcp_servers must be a mapping of server names, not %s", describe(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, sv := v.Content[i], v.Content[i+1]
		name := k.Value
		switch {
		case name == SuperviseMCPName:
			r.errorf(k, "mcp_servers.%s is bot-bottle's own server (supervise); name yours otherwise", name)
			continue
		case !mcpNameRE.MatchString(name):
			r.errorf(k, "mcp_servers: %q is not a server name (lowercase letters, digits, _ and -, starting with a letter)", name)
			continue
		}
		if s, ok := r.mcpServer(name, sv); ok {
			s.At = r.pos(k)
			b.MCPServers = append(b.MCPServers, s)
		}
	}
}

func (r *reader) mcpServer(name string, v *yaml.Node) (MCPServer, bool) {
	s := MCPServer{Name: name}
	where := "mcp_servers." + name
	ok := true
	r.mapping(v, fields{
		where: where,
		list: []field{
			{"command", func(_, v *yaml.Node) {
				list, nodes, lok := r.strList(v, where+".command")
				ok = ok && lok
				for i, a := range list {
					if a == "" || !r.oneLine(nodes[i], a) {
						ok = false
					}
				}
				s.Command = list
			}},
			{"env", func(_, v *yaml.Node) {
				if v.Kind != yaml.MappingNode {
					r.errorf(v, "%s.env must be a mapping of variable names to values", where)
					ok = false
					return
				}
				s.Env = map[string]string{}
				for i := 0; i+1 < len(v.Content); i += 2 {
					k, ev := v.Content[i], v.Content[i+1]
					if err := checkVarName(k.Value); err != nil {
						r.errorf(k, "%s.env %v", where, err)
						ok = false
						continue
					}
					val, vok := r.str(ev, where+".env."+k.Value)
					if !vok || !r.oneLine(ev, val) {
						ok = false
						continue
					}
					if strings.Contains(val, "${") {
						r.errorf(ev, "%s.env.%s reads a host variable: the agent can read what its servers are given; a credential goes in an egress route's auth", where, k.Value)
						ok = false
						continue
					}
					s.Env[k.Value] = val
				}
			}},
			{"url", func(_, v *yaml.Node) {
				u, uok := r.str(v, where+".url")
				if !uok {
					ok = false
					return
				}
				p, err := url.Parse(u)
				if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Hostname() == "" || p.User != nil {
					r.errorf(v, "%s.url %q is not an http(s) URL without credentials", where, u)
					ok = false
					return
				}
				s.URL = u
			}},
		},
	})
	switch {
	case !ok:
		return s, false
	case len(s.Command) > 0 && s.URL != "":
		r.errorf(v, "%s has command and url: a server runs in the bottle (command) or is reached through the proxy (url), not both", where)
		return s, false
	case len(s.Command) == 0 && s.URL == "":
		r.errorf(v, "%s needs command: [PROGRAM, ARGS...] (it runs in the bottle) or url: https://HOST/PATH (a route for HOST lets it through)", where)
		return s, false
	case s.URL != "" && len(s.Env) > 0:
		r.errorf(v, "%s.env applies to a command", where)
		return s, false
	}
	return s, true
}

// mergeMCP folds over's servers into base's by name, a later one
// replacing an earlier whole; an explicit empty value clears base's.
func mergeMCP(base, over *Bottle) []MCPServer {
	var out []MCPServer
	if !over.mcpClear {
		out = slices.Clone(base.MCPServers)
	}
	for _, s := range over.MCPServers {
		if i := slices.IndexFunc(out, func(x MCPServer) bool { return x.Name == s.Name }); i >= 0 {
			out[i] = s
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b MCPServer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// checkMCP checks what only a resolved bottle shows: a remote server's
// host has a route, and a template can register servers.
func checkMCP(b *Bottle, tmpl string, ds *Diagnostics) {
	for _, s := range b.MCPServers {
		if tmpl == TemplatePi || tmpl == TemplateShell {
			ds.warnf(s.At, "mcp_servers.%s has no effect: the %s template's CLI takes no MCP servers", s.Name, tmpl)
			continue
		}
		if s.URL == "" {
			continue
		}
		u, _ := url.Parse(s.URL)
		host := strings.ToLower(u.Hostname())
		if !slices.ContainsFunc(b.Egress.Routes, func(r Route) bool { return r.Host == host }) {
			ds.errorf(s.At, "mcp_servers.%s is at %s, which no egress route allows: add a route for %s (with auth for its credential)", s.Name, host, host)
		}
	}
}
