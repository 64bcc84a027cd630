//go:build linux

package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/agentcli"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakeapi"
)

// apiKeyBottle extends the scaffolded claude bottle with the API-key
// route its comment offers.
const apiKeyBottle = `---
extends: claude
egress:
  routes:
    - host: api.anthropic.com
      role: anthropic_api_key
      auth:
        header: x-api-key
        token_ref: ANTHROPIC_API_KEY
      dlp:
        outbound_on_match: redact
---
Claude Code with an Anthropic API key.
`

// apiKeyWorld is a native world whose claude bottles reach a fake model
// API with an API-key route; the host holds key as ANTHROPIC_API_KEY, and
// PATH has the real agent CLIs. It returns the fake API.
func apiKeyWorld(t *testing.T, key, reply string) (*world, *fakeapi.Anthropic) {
	t.Helper()
	bin := filepath.Dir(agentcli.Bin(t, "claude"))
	w := newNativeWorld(t)
	api := &fakeapi.Anthropic{Script: func(*fakeapi.Request) fakeapi.Turn { return fakeapi.Turn{Text: reply} }}
	fakeAnthropic(t, w, api, "sk-ant-oat01-"+strings.Repeat("N0", 20), "127.0.0.1:0")
	w.env = append(w.env, "ANTHROPIC_API_KEY="+key, "PATH="+bin+":"+os.Getenv("PATH"))
	w.writeManifest("bottles", "claude-key", apiKeyBottle)
	w.writeManifest("agents", "keyed", "---\nbottle: claude-key\n---\nAnswer briefly.\n")
	return w, api
}

// requireKeyed fails t unless every request the model API saw carried the
// real key in x-api-key, and none an Authorization or the placeholder,
// and there was a model request.
func requireKeyed(t *testing.T, api *fakeapi.Anthropic, key string) {
	t.Helper()
	reqs := api.Requests()
	var messages int
	for _, r := range reqs {
		t.Logf("model API: %s", r.Path)
		if r.APIKey != key {
			t.Errorf("%s reached the model API with x-api-key %q, want the real key", r.Path, r.APIKey)
		}
		if r.Authorization != "" {
			t.Errorf("%s reached the model API with Authorization %q, want none", r.Path, r.Authorization)
		}
		if strings.Contains(r.Body, key) || strings.Contains(r.Body, "placeholder-injected-by-egress") {
			t.Errorf("a request body to %s holds the key or its placeholder", r.Path)
		}
		if r.Path == "/v1/messages" {
			messages++
		}
	}
	if messages == 0 {
		t.Fatalf("no model request: %+v", reqs)
	}
}

// TestNativeClaudeAPIKey runs the real Claude Code headless in a bottle
// whose route injects an Anthropic API key: the CLI holds a placeholder,
// the model API sees the real key in x-api-key and nothing in
// Authorization, and the reply reaches the operator.
func TestNativeClaudeAPIKey(t *testing.T) {
	key := "sk-ant-api03-" + strings.Repeat("K9", 40) + "-AA"
	w, api := apiKeyWorld(t, key, "KEYED REPLY")
	out, code := w.run("start", "keyed", "--yes", "--", "claude", "-p", "say hi")
	t.Logf("claude:\n%s", out)
	if code != 0 {
		t.Fatalf("claude -p: exit %d", code)
	}
	if !strings.Contains(out, "KEYED REPLY") {
		t.Errorf("the reply did not arrive")
	}
	if strings.Contains(out, key) {
		t.Errorf("the output shows the real key")
	}
	requireKeyed(t, api, key)
}

// TestNativeClaudeAPIKeyInteractive: Claude Code's interactive UI uses
// the placeholder key without asking "Detected a custom API key" (the
// provider approved it in ~/.claude.json), and the real key is injected.
func TestNativeClaudeAPIKeyInteractive(t *testing.T) {
	key := "sk-ant-api03-" + strings.Repeat("I7", 40) + "-AA"
	w, api := apiKeyWorld(t, key, "PONGPONG")
	term := w.onTerminal("start", "keyed", "--yes")
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(screenText(term.out.String()), "bypass permissions on") {
		if s := screenText(term.out.String()); strings.Contains(s, "Detected a custom API key") {
			t.Fatalf("Claude Code asks whether to use the key:\n%s", s)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no prompt box:\n%s", screenText(term.out.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	screen := screenText(term.out.String())
	for _, q := range []string{"Detected a custom API key", "Select login method", "Do you trust"} {
		if strings.Contains(screen, q) {
			t.Fatalf("the first screen asks %q:\n%s", q, screen)
		}
	}
	term.send("ping")
	time.Sleep(500 * time.Millisecond) // the prompt box takes the text before the key
	term.send("\r")
	term.expect("PONGPONG")
	term.send("\x03")
	time.Sleep(300 * time.Millisecond)
	term.send("\x03")
	if code := term.exit(); code != 0 {
		t.Errorf("claude exited %d:\n%s", code, term.out.String())
	}
	requireKeyed(t, api, key)
}
