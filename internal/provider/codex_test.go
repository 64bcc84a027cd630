package provider

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// TestProvisionCodexAPIKey: a codex bottle whose route to the OpenAI API
// injects a key (init's codex bottle) gets a placeholder API-key login,
// the one `codex login --with-api-key` writes, so that Codex's
// interactive UI opens on its prompt rather than on a sign-in screen.
func TestProvisionCodexAPIKey(t *testing.T) {
	apiKey := manifest.Route{Host: "api.openai.com", Auth: &manifest.Auth{Scheme: manifest.AuthSchemeBearer, TokenRef: "OPENAI_API_KEY"}}
	r := resolved(manifest.TemplateCodex)
	r.Bottle.Provider.ForwardHostCredentials = manifest.Value[bool]{}
	r.Bottle.Env = nil
	r.Bottle.Egress.Routes = []manifest.Route{apiKey}
	var e env
	var prompted []string
	p, err := Provision(r, options(&e, &prompted))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "provision/codex-apikey.txtar", render(p))
	var auth map[string]any
	if err := json.Unmarshal(codexAuthFile(t, p), &auth); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"auth_mode": "apikey", "OPENAI_API_KEY": Placeholder}, auth); diff != "" {
		t.Errorf("auth.json mismatch (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name   string
		routes []manifest.Route
	}{
		{"no-auth", []manifest.Route{{Host: "api.openai.com"}}},
		{"other-host", []manifest.Route{{Host: "models.example", Auth: apiKey.Auth}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.Bottle.Egress.Routes = tc.routes
			p, err := Provision(r, options(&e, &prompted))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range p.Files {
				if f.Path == CodexHome+"/auth.json" {
					t.Errorf("auth.json written for routes %+v:\n%s", tc.routes, f.Data)
				}
			}
		})
	}

	// The host's ChatGPT login, when forwarded, wins.
	r.Bottle.Egress.Routes = []manifest.Route{apiKey}
	r.Bottle.Provider.ForwardHostCredentials = manifest.Value[bool]{V: true, Set: true}
	p, err = Provision(r, options(&e, &prompted))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Tokens map[string]string }
	if err := json.Unmarshal(codexAuthFile(t, p), &login); err != nil || login.Tokens["refresh_token"] != Placeholder {
		t.Errorf("a bottle that forwards the host's login has auth.json %s (%v), want a ChatGPT login", codexAuthFile(t, p), err)
	}
}

func codexAuthFile(t *testing.T, p *Plan) []byte {
	t.Helper()
	for _, f := range p.Files {
		if f.Path == CodexHome+"/auth.json" {
			if f.Mode != 0o600 || f.Root {
				t.Errorf("auth.json: mode %04o root=%v, want 0600, the agent's", f.Mode, f.Root)
			}
			return f.Data
		}
	}
	t.Fatal("no ~/.codex/auth.json in the plan")
	return nil
}
