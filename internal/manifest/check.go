package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Validate checks every discovered manifest: each bottle resolved with its
// parents, each agent with its bottle reference. It never needs secret
// values: an unset token variable is a warning (starting a bottle refuses),
// an unset ${HOST_VAR} an error.
func (ix *Index) Validate() Diagnostics {
	ds := ix.Diagnostics()
	for _, e := range ix.Bottles() {
		ds = append(ds, ix.ValidateBottle(e.Name)...)
	}
	for _, e := range ix.Agents() {
		ds = append(ds, ix.ValidateAgent(e.Name)...)
	}
	return ds.Sort()
}

// ValidateBottle resolves one bottle and checks the result.
func (ix *Index) ValidateBottle(name string) Diagnostics {
	b, ds := ix.ResolveBottle(name)
	if b != nil && !ds.HasErrors() {
		ix.checkBottle(b, &ds)
	}
	return ds.Sort()
}

// ValidateAgent parses one agent and checks its references.
func (ix *Index) ValidateAgent(name string) Diagnostics {
	a, ds := ix.ParseAgent(name)
	if a != nil && !ds.HasErrors() {
		ix.checkAgent(a, &ds)
	}
	return ds.Sort()
}

func (ix *Index) checkAgent(a *Agent, ds *Diagnostics) {
	if a.Bottle.Set && a.Bottle.V != "" {
		if _, ok := ix.bottles[a.Bottle.V]; !ok {
			ds.errorf(a.Bottle.At, "bottle: no bottle named %q (known: %s)", a.Bottle.V, names(ix.bottles))
		} else if a.Model.Set {
			// Only the agent CLIs take a model; a broken bottle is
			// reported where it is validated.
			if b, bds := ix.ResolveBottle(a.Bottle.V); !bds.HasErrors() && b.Provider.Template.Or(DefaultTemplate) == TemplateShell {
				ds.warnf(a.Model.At, "model has no effect: the bottle %s runs a shell (template shell), not an agent CLI", a.Bottle.V)
			}
		}
	}
	for _, s := range a.Skills {
		if !ix.skillExists(s.V) {
			ds.warnf(s.At, "skill %q not found (no %s/SKILL.md in %s); starting this agent will fail", s.V, s.V, strings.Join(ix.cfg.SkillDirs, " or "))
		}
	}
}

// SkillDir returns the folder holding the named skill, or "".
func (ix *Index) SkillDir(name string) string {
	for _, d := range ix.cfg.SkillDirs {
		if p := filepath.Join(d, name); isFile(filepath.Join(p, "SKILL.md")) {
			return p
		}
	}
	return ""
}

func (ix *Index) skillExists(name string) bool { return ix.SkillDir(name) != "" }

// checkBottle checks what only a resolved bottle can show: provider keys
// that need a given template, incomplete repositories, host variables, and
// env entries that would hand the agent a credential.
func (ix *Index) checkBottle(b *Bottle, ds *Diagnostics) {
	p := b.Provider
	tmpl := p.Template.Or(DefaultTemplate)
	if tmpl == "" {
		tmpl = DefaultTemplate
	}
	if p.Settings.Set && p.Settings.V != nil && tmpl != TemplatePi {
		ds.errorf(p.Settings.At, "agent_provider.settings applies to the pi template only (this bottle's template is %s)", tmpl)
	}
	if p.ForwardHostCredentials.V && tmpl != TemplateCodex {
		ds.errorf(p.ForwardHostCredentials.At, "agent_provider.forward_host_credentials applies to the codex template only (this bottle's template is %s)", tmpl)
	}
	if p.AuthToken.V != "" && tmpl != TemplateClaude {
		ds.errorf(p.AuthToken.At, "agent_provider.auth_token applies to the claude template only (this bottle's template is %s)", tmpl)
	}
	if p.CLIVersion.V != "" && tmpl == TemplateShell {
		ds.errorf(p.CLIVersion.At, "agent_provider.cli_version applies to a template with an agent CLI (claude, codex, pi); this bottle's is shell")
	}
	checkMCP(b, tmpl, ds)
	if df := p.Dockerfile.V; df != "" {
		if path := DockerfilePath(p.Dockerfile); !isFile(path) {
			ds.errorf(p.Dockerfile.At, "agent_provider.dockerfile %s does not exist", path)
		}
	}

	secretVars := map[string]string{}
	for _, rt := range b.Egress.Routes {
		if rt.Auth != nil {
			secretVars[rt.Auth.TokenRef] = "route " + rt.Host + " injects it"
			ix.checkTokenVar(rt.Auth.TokenRef, "auth.token_ref of route "+rt.Host, rt.Auth.At, ds)
		}
	}
	if v := p.AuthToken.V; v != "" {
		secretVars[v] = "agent_provider.auth_token names it"
		ix.checkTokenVar(v, "agent_provider.auth_token", p.AuthToken.At, ds)
	}
	for _, r := range b.GitGate.Repos {
		where := "git-gate.repos." + r.Name
		if !r.URL.Set {
			ds.errorf(r.At, "%s needs url: ssh://user@host[:port]/path", where)
		}
		if !r.Key.Set {
			ds.errorf(r.At, "%s needs key: {provider: static, path: FILE} or {provider: gitea, forge_token_env: VAR}", where)
		}
		if r.HostKey.V == "" {
			ds.warnf(r.At, "%s has no host_key: the git gate will not connect to it (no trust on first use), so clone, fetch and push fail; pin the upstream's key (ssh-keyscan)", where)
		}
		switch k := r.Key.V; k.Provider {
		case KeyProviderGitea:
			secretVars[k.ForgeTokenEnv] = where + ".key.forge_token_env names it"
			ix.checkTokenVar(k.ForgeTokenEnv, where+".key.forge_token_env", r.Key.At, ds)
		case KeyProviderStatic:
			if path := KeyPath(r.Key); !isFile(path) {
				ds.warnf(r.Key.At, "%s.key.path %s does not exist; starting this bottle will fail", where, path)
			}
		}
	}
	for _, e := range b.Env {
		if e.Value.Mode != EnvHost {
			continue
		}
		if why, ok := secretVars[e.Value.HostVar]; ok {
			ds.errorf(e.At, "env.%s would hand the agent the credential in ${%s} (%s); the agent must never hold it: remove this entry", e.Name, e.Value.HostVar, why)
		}
	}
}

// checkHostVars reports the ${HOST_VAR} env entries of one file whose
// variable is unset. It checks presence only and never reads a value into
// a message.
func (ix *Index) checkHostVars(b *Bottle, ds *Diagnostics) {
	for _, e := range b.Env {
		if e.Value.Mode != EnvHost {
			continue
		}
		if _, ok := ix.cfg.LookupEnv(e.Value.HostVar); !ok {
			ds.errorf(e.At, "env.%s: host variable %s is not set", e.Name, e.Value.HostVar)
		}
	}
}

func (ix *Index) checkTokenVar(name, what string, at Pos, ds *Diagnostics) {
	if v, ok := ix.cfg.LookupEnv(name); !ok || v == "" {
		ds.warnf(at, "%s: host variable %s is not set; starting this bottle will refuse", what, name)
	}
}

// DockerfilePath resolves agent_provider.dockerfile against the folder of
// the bottle that set it, expanding a leading ~.
func DockerfilePath(v Value[string]) string { return hostPath(v.V, v.At.File) }

// KeyPath resolves a static key's path the same way.
func KeyPath(v Value[RepoKey]) string { return hostPath(v.V.Path, v.At.File) }

func hostPath(p, relTo string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if filepath.IsAbs(p) || relTo == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(filepath.Dir(relTo), p)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Resolve loads an agent and folds the given bottles (or, when none are
// given, the agent's own bottle) into the bottle it runs in. The result is
// usable only when the diagnostics hold no error.
func (ix *Index) Resolve(agent string, bottles []string) (*Resolved, Diagnostics) {
	a, ds := ix.ParseAgent(agent)
	if a == nil || ds.HasErrors() {
		return nil, ds.Sort()
	}
	ix.checkAgent(a, &ds)
	if len(bottles) == 0 {
		if a.Bottle.V == "" {
			ds.errorf(Pos{File: a.File, Line: 1, Col: 1}, "agent %q names no bottle: pass --bottle NAME or add bottle: NAME to its frontmatter", a.Name)
			return nil, ds.Sort()
		}
		bottles = []string{a.Bottle.V}
	}
	var acc *Bottle
	for _, name := range bottles {
		b, bds := ix.ResolveBottle(name)
		ds = append(ds, bds...)
		if b == nil || bds.HasErrors() {
			continue
		}
		acc = merge(acc, b)
	}
	if ds.HasErrors() {
		return nil, ds.Sort()
	}
	if len(bottles) == 1 {
		acc.File = ix.bottles[bottles[0]].File
	} else {
		acc.Name = strings.Join(bottles, "+")
	}
	acc.Extends = nil
	ix.checkBottle(acc, &ds)
	res := &Resolved{Agent: a, Bottles: slices.Clone(bottles), Bottle: acc, GitUser: a.GitUser.over(acc.GitGate.User)}
	return res, ds.Sort()
}
