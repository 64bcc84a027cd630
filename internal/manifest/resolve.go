package manifest

import (
	"cmp"
	"slices"
	"strings"
)

// parseBottle parses a bottle file once and caches it with its diagnostics.
func (ix *Index) parseBottle(name string) (*Bottle, Diagnostics) {
	if b, ok := ix.parsed[name]; ok {
		return b, ix.parseDs[name]
	}
	e := ix.bottles[name]
	var ds Diagnostics
	var b *Bottle
	data, err := readFile(e.File)
	if err != nil {
		ds.errorf(Pos{File: e.File}, "reading bottle: %v", err)
		b = &Bottle{Name: name, File: e.File}
	} else {
		b = ParseBottle(name, e.File, data, &ds)
		ix.checkHostVars(b, &ds)
	}
	ix.parsed[name], ix.parseDs[name] = b, ds
	return b, ds
}

// ParseAgent reads and parses the named agent.
func (ix *Index) ParseAgent(name string) (*Agent, Diagnostics) {
	var ds Diagnostics
	e, ok := ix.agents[name]
	if !ok {
		ds.errorf(Pos{}, "no agent named %q (known: %s); agents live in %s or %s", name, names(ix.agents), AgentsDir(ix.cfg.Home), ProjectAgentsDir(cmp.Or(ix.cfg.Cwd, ".")))
		return nil, ds
	}
	data, err := readFile(e.File)
	if err != nil {
		ds.errorf(Pos{File: e.File}, "reading agent: %v", err)
		return &Agent{Name: name, File: e.File}, ds
	}
	a := ParseAgent(name, e.File, data, &ds)
	return a, ds
}

// ResolveBottle returns the named bottle with its extends chain folded in.
// Problems of every file involved are returned; the bottle is usable only
// when they hold no error.
func (ix *Index) ResolveBottle(name string) (*Bottle, Diagnostics) {
	var ds Diagnostics
	if _, ok := ix.bottles[name]; !ok {
		ds.errorf(Pos{}, "no bottle named %q (known: %s); bottles live in %s", name, names(ix.bottles), BottlesDir(ix.cfg.Home))
		return nil, ds
	}
	b, _ := ix.resolve(name, nil, &ds)
	return b, ds.Sort()
}

// resolve folds name's parents into it. stack holds the names being
// resolved, to catch cycles.
func (ix *Index) resolve(name string, stack []string, ds *Diagnostics) (*Bottle, bool) {
	if r, ok := ix.resolved[name]; ok {
		*ds = append(*ds, r.ds...)
		return r.b, r.ok
	}
	start := len(*ds)
	own, pds := ix.parseBottle(name)
	*ds = append(*ds, pds...)
	b, ok := ix.fold(own, !pds.HasErrors(), stack, ds)
	ix.resolved[name] = resolution{b: b, ok: ok, ds: slices.Clone((*ds)[start:])}
	return b, ok
}

// fold merges the parents of own, a parsed bottle, into it; ok says own
// parsed without error.
func (ix *Index) fold(own *Bottle, ok bool, stack []string, ds *Diagnostics) (*Bottle, bool) {
	stack = append(stack, own.Name)
	var acc *Bottle
	for j, p := range own.Extends {
		if slices.ContainsFunc(own.Extends[:j], func(q Value[string]) bool { return q.V == p.V }) {
			ds.errorf(p.At, "extends: %q is listed twice", p.V)
			ok = false
			continue
		}
		if i := slices.Index(stack, p.V); i >= 0 {
			ds.errorf(p.At, "extends: cycle %s", strings.Join(append(slices.Clone(stack[i:]), p.V), " -> "))
			ok = false
			continue
		}
		if _, known := ix.bottles[p.V]; !known {
			ds.errorf(p.At, "extends: no bottle named %q (known: %s)", p.V, names(ix.bottles))
			ok = false
			continue
		}
		parent, pok := ix.resolve(p.V, stack, ds)
		if !pok {
			ds.errorf(p.At, "extends: bottle %q is invalid (see its errors)", p.V)
			ok = false
			continue
		}
		acc = merge(acc, parent)
	}
	b := merge(acc, own)
	b.Name, b.File, b.Extends, b.Doc = own.Name, own.File, own.Extends, own.Doc
	return b, ok
}

// merge applies over on top of base (which may be nil) by the rules of
// SPEC §2: env by key, git-gate.user by field, repos by name with field
// overrides, routes by host (a later route replaces an earlier one),
// scalars last-wins, and an explicit empty value clears.
func merge(base, over *Bottle) *Bottle {
	if base == nil {
		base = &Bottle{}
	}
	out := &Bottle{
		Chain:     appendUnique(slices.Clone(base.Chain), chainOf(over)...),
		Provider:  mergeProvider(base.Provider, over.Provider),
		Resources: Resources{MilliCPUs: over.Resources.MilliCPUs.over(base.Resources.MilliCPUs), Memory: over.Resources.Memory.over(base.Resources.Memory), Pids: over.Resources.Pids.over(base.Resources.Pids)},
		Workspace: Workspace{Mode: over.Workspace.Mode.over(base.Workspace.Mode), Path: over.Workspace.Path.over(base.Workspace.Path), Protect: over.Workspace.Protect.over(base.Workspace.Protect)},
	}
	out.Name = over.Name

	env := map[string]EnvVar{}
	if !over.envClear {
		for _, e := range base.Env {
			env[e.Name] = e
		}
	}
	for _, e := range over.Env {
		if e.Value.Mode == 0 {
			delete(env, e.Name)
			continue
		}
		env[e.Name] = e
	}
	for _, e := range env {
		out.Env = append(out.Env, e)
	}
	slices.SortFunc(out.Env, func(a, b EnvVar) int { return cmp.Compare(a.Name, b.Name) })

	out.GitGate.User = over.GitGate.User.over(base.GitGate.User)
	if !over.reposClear {
		out.GitGate.Repos = slices.Clone(base.GitGate.Repos)
	}
	for _, r := range over.GitGate.Repos {
		i := slices.IndexFunc(out.GitGate.Repos, func(x Repo) bool { return x.Name == r.Name })
		if i < 0 {
			out.GitGate.Repos = append(out.GitGate.Repos, r)
			continue
		}
		old := out.GitGate.Repos[i]
		out.GitGate.Repos[i] = Repo{
			Name:           r.Name,
			At:             r.At,
			URL:            r.URL.over(old.URL),
			Key:            r.Key.over(old.Key),
			HostKey:        r.HostKey.over(old.HostKey),
			Branches:       r.Branches.over(old.Branches),
			ProtectedPaths: r.ProtectedPaths.over(old.ProtectedPaths),
			MaxPushBytes:   r.MaxPushBytes.over(old.MaxPushBytes),
		}
	}
	slices.SortFunc(out.GitGate.Repos, func(a, b Repo) int { return cmp.Compare(a.Name, b.Name) })

	out.Egress.Log = over.Egress.Log.over(base.Egress.Log)
	if !over.routesClear {
		out.Egress.Routes = slices.Clone(base.Egress.Routes)
	}
	for _, r := range over.Egress.Routes {
		if i := slices.IndexFunc(out.Egress.Routes, func(x Route) bool { return x.Host == r.Host }); i >= 0 {
			out.Egress.Routes[i] = r
			continue
		}
		out.Egress.Routes = append(out.Egress.Routes, r)
	}
	out.MCPServers = mergeMCP(base, over)
	return out
}

func appendUnique(list []string, add ...string) []string {
	for _, s := range add {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

func chainOf(b *Bottle) []string {
	if len(b.Chain) > 0 {
		return b.Chain
	}
	return []string{b.Name}
}

func mergeProvider(base, over Provider) Provider {
	return Provider{
		Template:               over.Template.over(base.Template),
		Dockerfile:             over.Dockerfile.over(base.Dockerfile),
		Settings:               over.Settings.over(base.Settings),
		ForwardHostCredentials: over.ForwardHostCredentials.over(base.ForwardHostCredentials),
		AuthToken:              over.AuthToken.over(base.AuthToken),
		CLIVersion:             over.CLIVersion.over(base.CLIVersion),
	}
}
