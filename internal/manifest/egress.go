package manifest

import (
	"net/http"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (r *reader) egress(v *yaml.Node, b *Bottle) {
	r.mapping(v, fields{
		where: "egress",
		list: []field{
			{"log", func(_, v *yaml.Node) {
				n, ok := r.integer(v, "egress.log")
				if ok && (n < EgressLogOff || n > EgressLogFull) {
					r.errorf(v, "egress.log must be 0 (off), 1 (blocks) or 2 (full), not %d", n)
					return
				}
				if ok {
					b.Egress.Log = set(int(n), r.pos(v))
				}
			}},
			{"routes", func(_, v *yaml.Node) { r.routes(v, b) }},
		},
		retired: retiredEgressKeys,
	})
}

func (r *reader) routes(v *yaml.Node, b *Bottle) {
	if isEmpty(v) {
		b.routesClear = true
		return
	}
	seen := map[string]Pos{}
	r.list(v, "egress.routes", func(i int, c *yaml.Node) {
		rt, ok := r.route(c)
		if !ok {
			return
		}
		if first, dup := seen[rt.Host]; dup {
			r.errorf(c, "egress.routes: host %q is already routed at line %d; one route per host (merge the matches)", rt.Host, first.Line)
			return
		}
		seen[rt.Host] = rt.At
		b.Egress.Routes = append(b.Egress.Routes, rt)
	})
}

// route decodes one route and applies its defaults. It reports whether the
// route is complete enough to use.
func (r *reader) route(v *yaml.Node) (Route, bool) {
	rt := Route{At: r.pos(v)}
	var dlpOut, dlpIn []string
	outSet, inSet := false, false
	before := len(*r.ds)
	hostSeen := false
	if !r.mapping(v, fields{
		where: "egress route",
		list: []field{
			{"host", func(_, v *yaml.Node) {
				hostSeen = true
				s, ok := r.str(v, "egress route host")
				if !ok {
					return
				}
				h, err := checkHost(s)
				if err != nil {
					r.errorf(v, "egress route: %v", err)
					return
				}
				rt.Host = h
			}},
			{"role", func(_, v *yaml.Node) {
				s, ok := r.str(v, "egress route role")
				if ok && s != "" && !slices.Contains(Roles, s) {
					r.errorf(v, "egress route role %q is not a role; allowed: %s", s, strings.Join(Roles, ", "))
					return
				}
				rt.Role = s
			}},
			{"auth", func(_, v *yaml.Node) { rt.Auth = r.auth(v) }},
			{"matches", func(_, v *yaml.Node) {
				if isEmpty(v) {
					r.errorf(v, "egress route matches is empty and would allow every request; remove the key to allow everything, or give entries")
					return
				}
				r.list(v, "egress route matches", func(_ int, c *yaml.Node) {
					if m, ok := r.match(c); ok {
						rt.Matches = append(rt.Matches, m)
					}
				})
			}},
			{"dlp", func(_, v *yaml.Node) {
				r.mapping(v, fields{
					where: "egress route dlp",
					list: []field{
						{"outbound_detectors", func(_, v *yaml.Node) {
							dlpOut, outSet = r.detectors(v, "dlp.outbound_detectors", OutboundDetectors)
						}},
						{"inbound_detectors", func(_, v *yaml.Node) {
							dlpIn, inSet = r.detectors(v, "dlp.inbound_detectors", InboundDetectors)
						}},
						{"outbound_on_match", func(_, v *yaml.Node) {
							s, ok := r.str(v, "dlp.outbound_on_match")
							if ok && s != "" && s != OnMatchSupervise && s != OnMatchRedact && s != OnMatchBlock {
								r.errorf(v, "dlp.outbound_on_match %q is not an action; allowed: supervise, redact, block", s)
								return
							}
							rt.DLP.OnMatch = s
						}},
					},
				})
			}},
			{"git", func(_, v *yaml.Node) {
				r.mapping(v, fields{
					where: "egress route git",
					list: []field{{"fetch", func(_, v *yaml.Node) {
						rt.GitFetch, _ = r.boolean(v, "git.fetch")
					}}},
					retired: map[string]string{"push": "git push over HTTPS is always refused; declare the repository under git-gate.repos"},
				})
			}},
		},
		retired: retiredRouteKeys,
	}) {
		return rt, false
	}
	if !hostSeen {
		r.errorf(v, "egress route needs host")
	}
	r.checkRoleAuth(v, rt)
	rt.DLP.Outbound = slices.Clone(DefaultOutboundDetectors)
	if outSet {
		rt.DLP.Outbound = dlpOut
	}
	rt.DLP.Inbound = slices.Clone(DefaultInboundDetectors)
	if inSet {
		rt.DLP.Inbound = dlpIn
	}
	if rt.DLP.OnMatch == "" {
		rt.DLP.OnMatch = DefaultOutboundOnMatch
	}
	return rt, len(*r.ds) == before && rt.Host != ""
}

// detectors decodes false or a non-empty list of detector names. An empty
// value means the defaults (it reports set=false); turning detection off
// takes an explicit false, never an empty list.
func (r *reader) detectors(v *yaml.Node, what string, allowed []string) (list []string, set bool) {
	if isNull(v) {
		return nil, false
	}
	if v.Kind == yaml.ScalarNode {
		if on, ok := r.boolean(v, what); ok && on {
			r.errorf(v, "%s: true is not a setting; omit the key for the defaults, or write false or a list", what)
		}
		return []string{}, true
	}
	if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		r.errorf(v, "%s: an empty list is ambiguous; write false to turn detection off, or omit the key for the defaults", what)
		return nil, false
	}
	list, nodes, _ := r.strList(v, what)
	out := []string{}
	for i, d := range list {
		if !slices.Contains(allowed, d) {
			r.errorf(nodes[i], "%s: %q is not a detector; allowed: %s", what, d, strings.Join(allowed, ", "))
			continue
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, true
}

func (r *reader) match(v *yaml.Node) (Match, bool) {
	var m Match
	before := len(*r.ds)
	if !r.mapping(v, fields{
		where: "matches entry",
		list: []field{
			{"paths", func(_, v *yaml.Node) {
				r.list(v, "matches paths", func(_ int, c *yaml.Node) {
					if p, ok := r.pathMatch(c); ok {
						m.Paths = append(m.Paths, p)
					}
				})
			}},
			{"methods", func(_, v *yaml.Node) {
				list, nodes, _ := r.strList(v, "matches methods")
				for i, s := range list {
					if !tokenRE.MatchString(s) {
						r.errorf(nodes[i], "matches methods: %q is not an HTTP method", s)
						continue
					}
					if up := strings.ToUpper(s); !slices.Contains(m.Methods, up) {
						m.Methods = append(m.Methods, up)
					}
				}
			}},
			{"headers", func(_, v *yaml.Node) {
				r.list(v, "matches headers", func(_ int, c *yaml.Node) {
					if h, ok := r.headerMatch(c); ok {
						m.Headers = append(m.Headers, h)
					}
				})
			}},
		},
	}) {
		return m, false
	}
	if len(*r.ds) == before && len(m.Paths) == 0 && len(m.Methods) == 0 && len(m.Headers) == 0 {
		r.errorf(v, "matches entry is empty and would allow every request; remove matches to allow everything, or give paths, methods or headers")
		return m, false
	}
	return m, len(*r.ds) == before
}

func (r *reader) pathMatch(v *yaml.Node) (PathMatch, bool) {
	p := PathMatch{Type: PathPrefix}
	valueSeen := false
	before := len(*r.ds)
	if v.Kind == yaml.ScalarNode {
		r.errorf(v, "matches paths entry must be {type: prefix|exact|regex, value: ...}, not %s", describe(v))
		return p, false
	}
	r.mapping(v, fields{
		where: "matches paths entry",
		list: []field{
			{"type", func(_, v *yaml.Node) {
				s, _ := r.str(v, "path type")
				if s != PathPrefix && s != PathExact && s != PathRegex {
					r.errorf(v, "path type %q is not a type; allowed: prefix, exact, regex", s)
					return
				}
				p.Type = s
			}},
			{"value", func(_, v *yaml.Node) {
				valueSeen = true
				p.Value, _ = r.str(v, "path value")
			}},
		},
	})
	if len(*r.ds) != before {
		return p, false
	}
	switch {
	case !valueSeen:
		r.errorf(v, "matches paths entry needs value")
	case p.Type == PathRegex:
		if err := compileRegex(p.Value); err != nil {
			r.errorf(v, "path %v", err)
		}
	case !strings.HasPrefix(p.Value, "/"):
		r.errorf(v, "path value %q must start with /", p.Value)
	}
	return p, len(*r.ds) == before
}

func (r *reader) headerMatch(v *yaml.Node) (HeaderMatch, bool) {
	h := HeaderMatch{Type: HeaderExact}
	valueSeen := false
	before := len(*r.ds)
	r.mapping(v, fields{
		where: "matches headers entry",
		list: []field{
			{"name", func(_, v *yaml.Node) {
				s, _ := r.str(v, "header name")
				if !tokenRE.MatchString(s) {
					r.errorf(v, "header name %q is not a valid HTTP header name", s)
					return
				}
				h.Name = http.CanonicalHeaderKey(s)
			}},
			{"value", func(_, v *yaml.Node) {
				valueSeen = true
				h.Value, _ = r.str(v, "header value")
			}},
			{"type", func(_, v *yaml.Node) {
				s, _ := r.str(v, "header type")
				if s != HeaderExact && s != HeaderRegex {
					r.errorf(v, "header type %q is not a type; allowed: exact, regex", s)
					return
				}
				h.Type = s
			}},
		},
	})
	if len(*r.ds) != before {
		return h, false
	}
	switch {
	case h.Name == "":
		r.errorf(v, "matches headers entry needs name")
	case !valueSeen:
		r.errorf(v, "matches headers entry needs value")
	case h.Type == HeaderRegex:
		if err := compileRegex(h.Value); err != nil {
			r.errorf(v, "header %v", err)
		}
	}
	return h, len(*r.ds) == before
}
