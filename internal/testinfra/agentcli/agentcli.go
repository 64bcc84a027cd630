// Package agentcli finds the real agent CLIs (Claude Code, Codex) the
// tests run, as scripts/agent-clis.sh installs them.
package agentcli

import (
	"os"
	"path/filepath"
	"testing"
)

// Versions the tests are verified with: scripts/agent-clis.sh installs
// these, and the docs name them.
const (
	ClaudeCode = "2.1.197"
	Codex      = "0.171.0"
)

// Bin is the path of the CLI name ("claude", "codex") in the folder
// BOT_BOTTLE_AGENT_CLIS names. Without one the test is skipped, or fails
// where BOT_BOTTLE_REQUIRE_AGENT_CLIS=1 (CI), as a missing prerequisite.
func Bin(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("BOT_BOTTLE_AGENT_CLIS")
	if dir == "" {
		if os.Getenv("BOT_BOTTLE_REQUIRE_AGENT_CLIS") == "1" {
			t.Fatal("BOT_BOTTLE_AGENT_CLIS is not set: run BOT_BOTTLE_AGENT_CLIS=$(scripts/agent-clis.sh)")
		}
		t.Skip("the real agent CLIs are not installed: set BOT_BOTTLE_AGENT_CLIS=$(scripts/agent-clis.sh)")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil { //nolint:gosec // G703: a test setting names the folder
		t.Fatalf("%s: %v (BOT_BOTTLE_AGENT_CLIS=%s; run scripts/agent-clis.sh)", name, err, dir)
	}
	return p
}
