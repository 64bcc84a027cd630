package provider

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// apiKeyResolved is the claude bottle of resolved with its OAuth route
// replaced by an API-key route.
func apiKeyResolved() *manifest.Resolved {
	r := resolved(manifest.TemplateClaude)
	r.Bottle.Egress.Routes = []manifest.Route{{Host: "api.anthropic.com", Role: manifest.RoleAnthropicAPIKey,
		Auth: &manifest.Auth{Header: manifest.AuthHeaderAPIKey, TokenRef: "ANTHROPIC_API_KEY"}}}
	return r
}

// TestProvisionClaudeAPIKey: a route of role anthropic_api_key gives
// Claude Code a placeholder ANTHROPIC_API_KEY, approved in ~/.claude.json
// by its last 20 characters (what Claude Code 2.1 keeps), and no OAuth
// token.
func TestProvisionClaudeAPIKey(t *testing.T) {
	var e env
	var prompted []string
	p, err := Provision(apiKeyResolved(), options(&e, &prompted))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "provision/claude-apikey.txtar", render(p))
	env := map[string]string{}
	for _, v := range p.Env {
		env[v.Name] = v.Value.Reveal()
	}
	if env["ANTHROPIC_API_KEY"] != Placeholder {
		t.Errorf("ANTHROPIC_API_KEY = %q, want the placeholder", env["ANTHROPIC_API_KEY"])
	}
	if _, ok := env["CLAUDE_CODE_OAUTH_TOKEN"]; ok {
		t.Errorf("CLAUDE_CODE_OAUTH_TOKEN set on an API-key bottle")
	}
	var state struct {
		CustomAPIKeyResponses struct{ Approved, Rejected []string } `json:"customApiKeyResponses"`
	}
	for _, f := range p.Files {
		if f.Path == Home+"/.claude.json" {
			if err := json.Unmarshal(f.Data, &state); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := struct{ Approved, Rejected []string }{[]string{Placeholder[len(Placeholder)-20:]}, []string{}}
	if d := cmp.Diff(want, state.CustomAPIKeyResponses); d != "" {
		t.Errorf("customApiKeyResponses (-want +got):\n%s", d)
	}
}

// TestProvisionClaudeOAuthNoKeyApproval: the OAuth bottle approves no API
// key and sets none.
func TestProvisionClaudeOAuthNoKeyApproval(t *testing.T) {
	var e env
	var prompted []string
	p, err := Provision(resolved(manifest.TemplateClaude), options(&e, &prompted))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Files {
		if strings.Contains(string(f.Data), "customApiKeyResponses") {
			t.Errorf("%s approves an API key on an OAuth bottle", f.Path)
		}
	}
	for _, v := range p.Env {
		if v.Name == "ANTHROPIC_API_KEY" {
			t.Errorf("ANTHROPIC_API_KEY set on an OAuth bottle")
		}
	}
}

// TestProvisionClaudeBothRoles: a bottle cannot give Claude Code both an
// OAuth token and an API key.
func TestProvisionClaudeBothRoles(t *testing.T) {
	r := apiKeyResolved()
	r.Bottle.Egress.Routes = append(r.Bottle.Egress.Routes, manifest.Route{Host: "oauth.anthropic.test", Role: manifest.RoleClaudeCodeOAuth,
		Auth: &manifest.Auth{Scheme: manifest.AuthSchemeBearer, TokenRef: "BOT_BOTTLE_CLAUDE_OAUTH_TOKEN"}})
	var e env
	var prompted []string
	_, err := Provision(r, options(&e, &prompted))
	if err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("Provision with both roles = %v, want an error saying to keep one", err)
	}
}
