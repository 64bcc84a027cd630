package policy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// Compile turns a resolved bottle into its policy. It is a pure transform:
// it reads no environment variable and no file, so the policy names secrets
// (token slots bound to host variable names, key slots bound to repos)
// that the host fills in when it starts the sidecar.
//
// Routes keep the bottle's order. Token slots are numbered in the order
// their token_ref first appears in the routes, and routes sharing a
// token_ref share one slot; key slots follow the repos sorted by name. A
// route with role claude_code_oauth injects agent_provider.auth_token as a
// Bearer token when the bottle sets it, in place of its own auth. An auth
// header other than Authorization is carried as written (canonical).
//
// Compile validates the result as Parse does, so that the host never hands
// over a policy the sidecar would refuse.
func Compile(b *manifest.Bottle) (*Policy, error) {
	if b == nil {
		return nil, errors.New("compiling policy: no bottle")
	}
	p := &Policy{
		Version: Version,
		Bottle:  b.Name,
		Log:     b.Egress.Log.Or(manifest.EgressLogOff),
		Routes:  make([]Route, 0, len(b.Egress.Routes)),
		Tokens:  []TokenSlot{},
		GitGate: compileGitGate(b.GitGate),
	}
	slotOf := map[string]int{} // token_ref → index in p.Tokens
	for _, mr := range b.Egress.Routes {
		r := Route{
			Host:    mr.Host,
			Role:    mr.Role,
			Matches: compileMatches(mr.Matches),
			DLP: DLP{
				Outbound: slices.Clone(mr.DLP.Outbound),
				Inbound:  slices.Clone(mr.DLP.Inbound),
				OnMatch:  mr.DLP.OnMatch,
			},
			GitFetch: mr.GitFetch,
		}
		auth := mr.Auth
		if tok := b.Provider.AuthToken.V; mr.Role == manifest.RoleClaudeCodeOAuth && tok != "" {
			auth = &manifest.Auth{Scheme: manifest.AuthSchemeBearer, TokenRef: tok}
		}
		if auth != nil {
			i, ok := slotOf[auth.TokenRef]
			if !ok {
				i = len(p.Tokens)
				slotOf[auth.TokenRef] = i
				p.Tokens = append(p.Tokens, TokenSlot{Slot: fmt.Sprintf("%s%d", TokenSlotPrefix, i), Env: auth.TokenRef})
			}
			p.Tokens[i].Hosts = append(p.Tokens[i].Hosts, mr.Host)
			r.Auth = &Auth{Header: auth.Header, Scheme: auth.Scheme, Slot: p.Tokens[i].Slot}
		}
		p.Routes = append(p.Routes, r)
	}
	if err := p.prepare(); err != nil {
		return nil, fmt.Errorf("compiling policy for bottle %q: %w", b.Name, err)
	}
	return p, nil
}

func compileMatches(ms []manifest.Match) []Match {
	var out []Match
	for _, m := range ms {
		c := Match{Methods: slices.Clone(m.Methods)}
		for _, p := range m.Paths {
			c.Paths = append(c.Paths, PathMatch{Type: p.Type, Value: p.Value})
		}
		for _, h := range m.Headers {
			c.Headers = append(c.Headers, HeaderMatch{Name: h.Name, Value: h.Value, Type: h.Type})
		}
		out = append(out, c)
	}
	return out
}

// compileGitGate returns nil when g declares no repository and no user.
// It carries no key path and no forge token variable: the host reads the
// key (or has the forge mint one) and hands it in the repo's key slot.
func compileGitGate(g manifest.GitGate) *GitGate {
	var user *GitUser
	if g.User.Name.V != "" || g.User.Email.V != "" {
		user = &GitUser{Name: g.User.Name.V, Email: g.User.Email.V}
	}
	if user == nil && len(g.Repos) == 0 {
		return nil
	}
	repos := slices.SortedFunc(slices.Values(g.Repos), func(a, b manifest.Repo) int { return cmp.Compare(a.Name, b.Name) })
	out := &GitGate{User: user, Repos: make([]Repo, 0, len(repos))}
	for i, r := range repos {
		u := r.URL.V
		rp := Repo{
			Name:           r.Name,
			URL:            u.Raw,
			User:           u.User,
			Host:           u.Host,
			Port:           u.Port,
			Path:           u.Path,
			HostKey:        r.HostKey.V,
			Key:            RepoKey{Provider: r.Key.V.Provider, Slot: fmt.Sprintf("%s%d", KeySlotPrefix, i)},
			ProtectedPaths: slices.Clone(manifest.DefaultProtectedPaths),
			MaxPushBytes:   r.MaxPushBytes.V,
		}
		// Security: a list that is set stays set even when empty: an
		// empty branches list allows no branch, not the default ones.
		if r.Branches.Set {
			rp.Branches = append([]string{}, r.Branches.V...)
		}
		if r.ProtectedPaths.Set {
			rp.ProtectedPaths = append([]string{}, r.ProtectedPaths.V...)
		}
		out.Repos = append(out.Repos, rp)
	}
	return out
}
