package provider

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// claudeState is the part of ~/.claude.json bot-bottle writes: onboarding
// done, bypass-permissions mode accepted, the workspace trusted, the MCP
// servers, and the placeholder API key approved when there is one.
type claudeState struct {
	HasCompletedOnboarding        bool                       `json:"hasCompletedOnboarding"`
	BypassPermissionsModeAccepted bool                       `json:"bypassPermissionsModeAccepted"`
	AutoUpdates                   bool                       `json:"autoUpdates"`
	Projects                      map[string]claudeProject   `json:"projects"`
	MCPServers                    map[string]claudeMCPServer `json:"mcpServers,omitempty"`
	CustomAPIKeyResponses         *claudeKeyResponses        `json:"customApiKeyResponses,omitempty"`
}

// claudeKeyResponses are the operator's answers to Claude Code's "Detected
// a custom API key" question, each key named by its last 20 characters
// (Claude Code 2.1).
type claudeKeyResponses struct {
	Approved []string `json:"approved"`
	Rejected []string `json:"rejected"`
}

// claudeKeySuffixLen is how much of an API key Claude Code keeps to
// remember that it was approved.
const claudeKeySuffixLen = 20

type claudeProject struct {
	HasTrustDialogAccepted        bool     `json:"hasTrustDialogAccepted"`
	HasCompletedProjectOnboarding bool     `json:"hasCompletedProjectOnboarding"`
	AllowedTools                  []string `json:"allowedTools"`
}

type claudeMCPServer struct {
	Type    string            `json:"type"`
	URL     string            `json:"url,omitempty"`
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

// claudeSettings is ~/.claude/settings.json: bypass-permissions as the
// default mode, its warning already accepted.
type claudeSettings struct {
	Permissions struct {
		DefaultMode string `json:"defaultMode"`
	} `json:"permissions"`
	SkipDangerousModePermissionPrompt bool `json:"skipDangerousModePermissionPrompt"`
}

// configureClaude writes Claude Code's state and settings. With a route of
// role claude_code_oauth, the CLI gets a placeholder OAuth token; with one
// of role anthropic_api_key, a placeholder ANTHROPIC_API_KEY, approved in
// advance so that it is used without asking. The sidecar swaps in the real
// credential on the wire.
func configureClaude(c *setup) ([]backend.File, []backend.EnvVar, error) {
	oauth, apiKey := hasRole(c.r.Bottle, manifest.RoleClaudeCodeOAuth), hasRole(c.r.Bottle, manifest.RoleAnthropicAPIKey)
	if oauth && apiKey {
		return nil, nil, fmt.Errorf("bottle %q has routes of role %s and %s; keep one: Claude Code signs in with one credential", c.r.Bottle.Name, manifest.RoleClaudeCodeOAuth, manifest.RoleAnthropicAPIKey)
	}
	state := claudeState{
		HasCompletedOnboarding:        true,
		BypassPermissionsModeAccepted: true,
		Projects: map[string]claudeProject{
			c.workspace: {HasTrustDialogAccepted: true, HasCompletedProjectOnboarding: true, AllowedTools: []string{}},
		},
	}
	for _, s := range mcpServers(c.opts) {
		if state.MCPServers == nil {
			state.MCPServers = map[string]claudeMCPServer{}
		}
		if len(s.Command) > 0 {
			state.MCPServers[s.Name] = claudeMCPServer{Type: "stdio", Command: s.Command[0], Args: s.Command[1:], Env: s.Env}
			continue
		}
		state.MCPServers[s.Name] = claudeMCPServer{Type: "http", URL: s.URL}
	}
	if apiKey {
		state.CustomAPIKeyResponses = &claudeKeyResponses{Approved: []string{Placeholder[len(Placeholder)-claudeKeySuffixLen:]}, Rejected: []string{}}
	}
	stateJSON, err := marshalJSON(state)
	if err != nil {
		return nil, nil, fmt.Errorf("rendering ~/.claude.json: %w", err)
	}
	var settings claudeSettings
	settings.Permissions.DefaultMode = "bypassPermissions"
	settings.SkipDangerousModePermissionPrompt = true
	settingsJSON, err := marshalJSON(settings)
	if err != nil {
		return nil, nil, fmt.Errorf("rendering ~/.claude/settings.json: %w", err)
	}
	files := []backend.File{
		agentFile(".claude.json", 0o600, stateJSON),
		agentFile(".claude/settings.json", 0o644, settingsJSON),
	}
	env := []backend.EnvVar{
		literal("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
		literal("DISABLE_ERROR_REPORTING", "1"),
		literal("DISABLE_AUTOUPDATER", "1"),
		// A supervise call waits for the operator: no backgrounding, and
		// a whole-call limit above the server's longest wait.
		literal("MCP_TOOL_TIMEOUT", strconv.FormatInt(mcpToolTimeout.Milliseconds(), 10)),
		literal("CLAUDE_CODE_MCP_AUTO_BACKGROUND_MS", "0"),
	}
	switch {
	case oauth:
		env = append(env, literal("CLAUDE_CODE_OAUTH_TOKEN", Placeholder))
	case apiKey:
		env = append(env, literal("ANTHROPIC_API_KEY", Placeholder))
	}
	return files, env, nil
}

// marshalJSON renders v as indented JSON with a final newline.
func marshalJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
