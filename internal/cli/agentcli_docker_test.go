//go:build linux

package cli_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/agentcli"
)

// TestDockerClaudeAsksOverMCP is TestNativeClaudeAsksOverMCP in a Docker
// bottle built from the claude template (Claude Code at the version the
// template pins, the one agentcli names): the fake model API listens on
// the host side of an --internal network only the sidecar egresses
// through.
func TestDockerClaudeAsksOverMCP(t *testing.T) {
	agentcli.Bin(t, "claude") // the real-CLI tests run together, or not at all
	w := newWorld(t)
	net := fmt.Sprintf("bot-bottle-test-api-%d", time.Now().UnixNano()%1_000_000)
	if out, err := exec.Command("docker", "network", "create", "--internal", "--label", "io.bot-bottle.test=1", net).CombinedOutput(); err != nil {
		t.Fatalf("creating the upstream network: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", net).Run() })
	gw, err := exec.Command("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net).Output()
	if err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "BOT_BOTTLE_DOCKER_EGRESS_NETWORK="+net)
	out := claudeAsks(t, w, "claude", strings.TrimSpace(string(gw))+":0", approveByCommand(t))
	requireAll(t, out, "RESULT", `"status":"approved"`, "the reference only", `"host":"docs.example.test"`)
	if v, code := w.run("start", "asker", "--yes", "--", "claude", "--version"); code != 0 || !strings.Contains(v, agentcli.ClaudeCode+" (Claude Code)") {
		t.Errorf("the claude template's Claude Code is not %s (exit %d):\n%s", agentcli.ClaudeCode, code, v)
	}
}
