//go:build linux

package cli_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/agentcli"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakeapi"
)

// TestDockerClaudeAsksOverMCP is TestNativeClaudeAsksOverMCP in a Docker
// bottle built from the claude template (Claude Code at the version the
// template pins, the one agentcli names): the fake model API listens on
// the host side of an --internal network only the sidecar egresses
// through.
func TestDockerClaudeAsksOverMCP(t *testing.T) {
	agentcli.Bin(t, "claude") // the real-CLI tests run together, or not at all
	w := newWorld(t)
	out := claudeAsks(t, w, "claude", upstreamNet(t, w), approveByCommand(t))
	requireAll(t, out, "RESULT", `"status":"approved"`, "the reference only", `"host":"docs.example.test"`)
	if v, code := w.run("start", "asker", "--yes", "--", "claude", "--version"); code != 0 || !strings.Contains(v, agentcli.ClaudeCode+" (Claude Code)") {
		t.Errorf("the claude template's Claude Code is not %s (exit %d):\n%s", agentcli.ClaudeCode, code, v)
	}
}

// upstreamNet makes w's sidecars egress through a new --internal network
// and returns an address (host:0) on its host side for a fake API.
func upstreamNet(t *testing.T, w *world) string {
	t.Helper()
	net := fmt.Sprintf("bot-bottle-test-api-%d", time.Now().UnixNano()%1_000_000)
	if out, err := exec.Command("docker", "network", "create", "--internal", "--label", "io.bot-bottle.test=1", net).CombinedOutput(); err != nil {
		t.Fatalf("creating the upstream network: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		w.removeAll() // a failed test's bottles would hold the network
		_ = exec.Command("docker", "network", "rm", net).Run()
	})
	gw, err := exec.Command("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net).Output()
	if err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "BOT_BOTTLE_DOCKER_EGRESS_NETWORK="+net)
	return strings.TrimSpace(string(gw)) + ":0"
}

// TestDockerClaudeInteractive: Claude Code's interactive UI in a claude
// bottle, on a real terminal, opens on its prompt: no onboarding, login,
// theme or trust question; a prompt typed there reaches the model API
// with the real token, and the reply is shown.
func TestDockerClaudeInteractive(t *testing.T) {
	agentcli.Bin(t, "claude")
	w := newWorld(t)
	claudeInteractive(t, w, upstreamNet(t, w))
}

// claudeInteractive runs Claude Code's interactive UI in a claude bottle
// of w on a real terminal, the fake model API listening on fakeAddr.
func claudeInteractive(t *testing.T, w *world, fakeAddr string) {
	t.Helper()
	token := "sk-ant-oat01-" + strings.Repeat("K4", 20)
	api := &fakeapi.Anthropic{Script: func(*fakeapi.Request) fakeapi.Turn {
		return fakeapi.Turn{Text: "PONGPONG"}
	}}
	fakeAnthropic(t, w, api, token, fakeAddr)
	w.writeManifest("agents", "chatter", "---\nbottle: claude\n---\nAnswer briefly.\n")

	term := w.onTerminal("start", "chatter", "--yes", "--label", "chat")
	// The UI places words with cursor moves: read the screen as text.
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(screenText(term.out.String()), "bypass permissions on") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt box:\n%s", screenText(term.out.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	screen := screenText(term.out.String())
	if !strings.Contains(screen, "chat") {
		t.Errorf("the label is not the session's name on the first screen:\n%s", screen)
	}
	for _, q := range []string{"Select login method", "Choose the text style", "trust the files", "Do you trust", "Detected a custom API key", "Bypass Permissions mode", "Yes, I accept"} {
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
	reqs := api.Requests()
	var messages int
	for _, r := range reqs {
		if r.Authorization != "Bearer "+token {
			t.Errorf("%s reached the model API with Authorization %q, want the real token", r.Path, r.Authorization)
		}
		if r.Path == "/v1/messages" {
			messages++
		}
	}
	if messages == 0 {
		t.Fatalf("no model request: %+v", reqs)
	}
}

// csi matches a terminal's control sequences (and a lone escape's).
var csi = regexp.MustCompile(`\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[0-~])`)

// screenText is what a terminal showed, as words: control sequences,
// which place the words, become spaces.
func screenText(out string) string {
	return strings.Join(strings.Fields(csi.ReplaceAllString(out, " ")), " ")
}

func TestScreenText(t *testing.T) {
	got := screenText("\x1b[31m ▐\x1b[40mX\x1b[12G\x1b[39m\x1b[1mClaude\x1b[19GCode\x1b]0;title\x07 \x1b[2Kend\x1b7")
	if want := "▐ X Claude Code end"; got != want {
		t.Errorf("screenText = %q, want %q", got, want)
	}
}
