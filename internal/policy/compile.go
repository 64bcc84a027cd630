package policy

import (
	"fmt"
	"slices"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// Compile turns a resolved bottle into the policy its sidecar enforces.
// Routes sharing a token_ref share one slot; slots are numbered in route
// order, so the output is deterministic.
func Compile(b *manifest.Bottle) (*Policy, error) {
	p := &Policy{Version: Version, Bottle: b.Name, Log: b.Egress.Log.V, Routes: []Route{}, Tokens: []TokenSlot{}}
	slotOf := map[string]int{}
	for _, rt := range b.Egress.Routes {
		r := Route{
			Host:     rt.Host,
			Role:     rt.Role,
			GitFetch: rt.GitFetch,
			DLP: DLP{
				Outbound: nonNil(slices.Clone(rt.DLP.Outbound)),
				Inbound:  nonNil(slices.Clone(rt.DLP.Inbound)),
				OnMatch:  rt.DLP.OnMatch,
			},
		}
		auth := rt.Auth
		if rt.Role == manifest.RoleClaudeCodeOAuth && b.Provider.AuthToken.V != "" {
			auth = &manifest.Auth{Scheme: manifest.AuthSchemeBearer, TokenRef: b.Provider.AuthToken.V}
		}
		if auth != nil {
			i, ok := slotOf[auth.TokenRef]
			if !ok {
				i = len(p.Tokens)
				slotOf[auth.TokenRef] = i
				p.Tokens = append(p.Tokens, TokenSlot{Slot: fmt.Sprintf("EGRESS_TOKEN_%d", i), Env: auth.TokenRef})
			}
			p.Tokens[i].Hosts = append(p.Tokens[i].Hosts, rt.Host)
			r.Auth = &Auth{Scheme: auth.Scheme, Slot: p.Tokens[i].Slot}
		}
		for _, m := range rt.Matches {
			cm := Match{Methods: slices.Clone(m.Methods)}
			for _, pm := range m.Paths {
				cm.Paths = append(cm.Paths, PathMatch{Type: pm.Type, Value: pm.Value})
			}
			for _, hm := range m.Headers {
				cm.Headers = append(cm.Headers, HeaderMatch{Name: hm.Name, Value: hm.Value, Type: hm.Type})
			}
			r.Matches = append(r.Matches, cm)
		}
		p.Routes = append(p.Routes, r)
	}
	if g := compileGitGate(b); g != nil {
		p.GitGate = g
	}
	if err := p.prepare(); err != nil {
		return nil, fmt.Errorf("compiled policy is invalid: %w", err)
	}
	return p, nil
}

func compileGitGate(b *manifest.Bottle) *GitGate {
	gg := b.GitGate
	if len(gg.Repos) == 0 {
		return nil
	}
	g := &GitGate{Repos: []Repo{}}
	if u := gg.User; u.Name.V != "" || u.Email.V != "" {
		g.User = &GitUser{Name: u.Name.V, Email: u.Email.V}
	}
	for i, r := range gg.Repos {
		u := r.URL.V
		protected := r.ProtectedPaths.V
		if len(protected) == 0 {
			protected = manifest.DefaultProtectedPaths
		}
		g.Repos = append(g.Repos, Repo{
			Name:           r.Name,
			URL:            u.Raw,
			User:           u.User,
			Host:           u.Host,
			Port:           u.Port,
			Path:           u.Path,
			HostKey:        r.HostKey.V,
			Key:            RepoKey{Provider: r.Key.V.Provider, Slot: fmt.Sprintf("GIT_KEY_%d", i)},
			Branches:       slices.Clone(r.Branches.V),
			ProtectedPaths: slices.Clone(protected),
			MaxPushBytes:   r.MaxPushBytes.V,
		})
	}
	return g
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
