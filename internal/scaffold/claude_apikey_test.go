package scaffold

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// TestClaudeAPIKeyAlternative: the API-key route the claude bottle's
// comment offers, put in a bottle that extends it, is valid, and gives
// the API-key role with the key in x-api-key.
func TestClaudeAPIKeyAlternative(t *testing.T) {
	data, err := files.ReadFile("files/bottles/claude.md")
	if err != nil {
		t.Fatal(err)
	}
	var route []string
	in := false
	for line := range strings.SplitSeq(string(data), "\n") {
		switch {
		case strings.Contains(line, "replace the route below with"):
			in = true
		case in && strings.HasPrefix(line, "#     "):
			route = append(route, "  "+strings.TrimPrefix(line, "#     "))
		case in && len(route) > 0:
			in = false
		}
	}
	if len(route) == 0 {
		t.Fatal("the claude bottle's comment offers no API-key route")
	}
	home := t.TempDir()
	if _, err := Write(home); err != nil {
		t.Fatal(err)
	}
	child := "---\nextends: claude\negress:\n  routes:\n" + strings.Join(route, "\n") + "\n---\nAPI key.\n"
	if err := os.WriteFile(filepath.Join(home, "bottles", "claude-key.md"), []byte(child), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "agents", "keyed.md"), []byte("---\nbottle: claude-key\n---\nWork.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ANTHROPIC_API_KEY": "x", "BOT_BOTTLE_CLAUDE_OAUTH_TOKEN": "x"}
	ix, err := manifest.Discover(manifest.Config{Home: home, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ix.Validate() {
		if strings.HasPrefix(filepath.Base(d.Pos.File), "claude") {
			t.Errorf("with the API-key route: %s", d)
		}
	}
	r, ds := ix.Resolve("keyed", nil)
	if ds.HasErrors() {
		t.Fatalf("agent keyed does not resolve: %v", ds)
	}
	routes := r.Bottle.Egress.Routes
	if len(routes) != 1 || routes[0].Role != manifest.RoleAnthropicAPIKey || routes[0].Auth == nil ||
		routes[0].Auth.Header != manifest.AuthHeaderAPIKey || routes[0].Auth.TokenRef != "ANTHROPIC_API_KEY" {
		t.Errorf("resolved routes = %+v, want the API-key route alone", routes)
	}
}
