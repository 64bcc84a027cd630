package provider

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// CodexHome is CODEX_HOME in a codex bottle.
const CodexHome = Home + "/.codex"

// CodexLogin is what the placeholder ~/.codex/auth.json of a bottle that
// forwards the host's Codex credentials copies from the host's login: the
// claims Codex reads locally, never a token. The caller reads them from
// the host's ~/.codex/auth.json.
type CodexLogin struct {
	// Expiry is the host access token's expiry. Codex refreshes a token
	// it believes expired, which fails with a placeholder, so the
	// placeholder should expire with the real token. Zero means never.
	Expiry time.Time
	// AccountID is the ChatGPT account id Codex sends alongside the token.
	AccountID string
	Email     string
	PlanType  string
}

// codexAPIHost is the host of the OpenAI API, where Codex sends an API
// key.
const codexAPIHost = "api.openai.com"

// configureCodex writes config.toml (no approvals and no inner sandbox,
// since the bottle is the sandbox; the workspace trusted; MCP servers) and
// a placeholder auth.json: shaped like a ChatGPT login when the bottle
// forwards the host's Codex login, else like an API-key login when the
// bottle's route to the OpenAI API injects a credential, so that the
// interactive UI opens on its prompt rather than on a sign-in screen. No
// key is set in the environment: the sidecar injects the real one on the
// wire, in place of the placeholder.
func configureCodex(c *setup) ([]backend.File, []backend.EnvVar, error) {
	var b strings.Builder
	b.WriteString("# Written by bot-bottle at start. The bottle is the sandbox: Codex asks\n")
	b.WriteString("# for no approval and runs without a sandbox of its own.\n")
	b.WriteString("approval_policy = \"never\"\nsandbox_mode = \"danger-full-access\"\n")
	fmt.Fprintf(&b, "\n[projects.%s]\ntrust_level = \"trusted\"\n", tomlString(c.workspace))
	for _, s := range mcpServers(c.opts) {
		fmt.Fprintf(&b, "\n[mcp_servers.%s]\n", tomlString(s.Name))
		if len(s.Command) > 0 {
			fmt.Fprintf(&b, "command = %s\nargs = [", tomlString(s.Command[0]))
			for i, a := range s.Command[1:] {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(tomlString(a))
			}
			b.WriteString("]\n")
		} else {
			fmt.Fprintf(&b, "url = %s\n", tomlString(s.URL))
		}
		fmt.Fprintf(&b, "startup_timeout_sec = %d\ntool_timeout_sec = %d\n", int(mcpStartupTimeout.Seconds()), int(mcpToolTimeout.Seconds()))
		if len(s.Env) > 0 {
			fmt.Fprintf(&b, "\n[mcp_servers.%s.env]\n", tomlString(s.Name))
			for _, k := range slices.Sorted(maps.Keys(s.Env)) {
				fmt.Fprintf(&b, "%s = %s\n", tomlString(k), tomlString(s.Env[k]))
			}
		}
	}
	files := []backend.File{agentFile(".codex/config.toml", 0o644, []byte(b.String()))}
	var auth []byte
	var err error
	switch bottle := c.r.Bottle; {
	case bottle.Provider.ForwardHostCredentials.V || hasRole(bottle, manifest.RoleCodexHostAuth):
		auth, err = codexAuth(c.opts.CodexLogin, c.now)
	case injectsAuth(bottle, codexAPIHost):
		// What `codex login --with-api-key` writes.
		auth, err = marshalJSON(map[string]string{"auth_mode": "apikey", "OPENAI_API_KEY": Placeholder})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("rendering ~/.codex/auth.json: %w", err)
	}
	if auth != nil {
		files = append(files, agentFile(".codex/auth.json", 0o600, auth))
	}
	return files, []backend.EnvVar{literal("CODEX_HOME", CodexHome)}, nil
}

// injectsAuth reports whether a route of b to host injects a credential.
func injectsAuth(b *manifest.Bottle, host string) bool {
	return slices.ContainsFunc(b.Egress.Routes, func(r manifest.Route) bool {
		return r.Auth != nil && strings.EqualFold(r.Host, host)
	})
}

// codexAuth renders a ChatGPT-mode auth.json whose tokens are unsigned
// placeholder JWTs carrying login's claims.
func codexAuth(login *CodexLogin, now time.Time) ([]byte, error) {
	l := CodexLogin{AccountID: Placeholder}
	if login != nil {
		l = *login
		if l.AccountID == "" {
			l.AccountID = Placeholder
		}
	}
	exp := now.AddDate(100, 0, 0)
	if !l.Expiry.IsZero() {
		exp = l.Expiry
	}
	authClaims := map[string]string{"chatgpt_account_id": l.AccountID}
	if l.PlanType != "" {
		authClaims["chatgpt_plan_type"] = l.PlanType
	}
	idClaims := map[string]any{"exp": exp.Unix(), "iat": now.Unix(), "https://api.openai.com/auth": authClaims}
	if l.Email != "" {
		idClaims["email"] = l.Email
	}
	idToken, err := placeholderJWT(idClaims)
	if err != nil {
		return nil, err
	}
	accessToken, err := placeholderJWT(map[string]any{"exp": exp.Unix(), "iat": now.Unix(), "https://api.openai.com/auth": authClaims})
	if err != nil {
		return nil, err
	}
	return marshalJSON(map[string]any{
		"OPENAI_API_KEY": nil,
		"tokens": map[string]string{
			"id_token":      idToken,
			"access_token":  accessToken,
			"refresh_token": Placeholder,
			"account_id":    l.AccountID,
		},
		"last_refresh": now.UTC().Format(time.RFC3339),
	})
}

// placeholderJWT is an unsigned JWT with claims, signed with the
// placeholder text: Codex reads the claims and never checks the signature.
func placeholderJWT(claims map[string]any) (string, error) {
	enc := base64.RawURLEncoding
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte(Placeholder)), nil
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
