//go:build linux

package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/provider"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/agentcli"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakeapi"
)

// TestNativeClaudeWorks: a headless Claude Code run in a native bottle
// does what a user starts it for.
func TestNativeClaudeWorks(t *testing.T) {
	claudeWorks(t, nativeClaudeWorld(t), "127.0.0.1:0")
}

// TestDockerClaudeWorks is TestNativeClaudeWorks in a Docker bottle of
// the claude template.
func TestDockerClaudeWorks(t *testing.T) {
	agentcli.Bin(t, "claude")
	w := newWorld(t)
	claudeWorks(t, w, upstreamNet(t, w))
}

// bottleLine is the preflight's first line, which names the bottle.
var bottleLine = regexp.MustCompile(`(?m)^bottle (\S+)$`)

// claudeWorks runs the real Claude Code headless in a claude bottle of w
// (the fake model API on fakeAddr) with an agent that has a prompt and a
// skill: the model sees both, its Bash tool call writes the workspace, the
// reply reaches stdout, the API saw the real token on every request, the
// bottle holds none (environment, processes, home, /tmp, workspace), and
// the bottle's audit chain verifies.
func claudeWorks(t *testing.T, w *world, fakeAddr string) {
	t.Helper()
	token := "sk-ant-oat01-" + strings.Repeat("W8", 20)
	api := &fakeapi.Anthropic{Script: func(r *fakeapi.Request) fakeapi.Turn {
		if len(r.ToolResults) == 0 {
			return fakeapi.Turn{Tool: "Bash", Input: map[string]any{
				"command": "printf 'WRITTEN BY CLAUDE' > written.txt && echo wrote-it", "description": "write the file",
			}}
		}
		return fakeapi.Turn{Text: "DONE " + r.ToolResults[len(r.ToolResults)-1]}
	}}
	fakeAnthropic(t, w, api, token, fakeAddr)
	skill := filepath.Join(w.home, "skills", "bottle-notes")
	if err := os.MkdirAll(skill, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(skill, "SKILL.md"), []byte("---\nname: bottle-notes\ndescription: SKILLMARK-3 keeps notes about the bottle\n---\nWrite notes.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.writeManifest("agents", "worker", "---\nbottle: claude\nskills: [bottle-notes]\n---\nPROMPTMARK-7: answer briefly.\n")
	if err := os.Chmod(w.ws, 0o777); err != nil { // the agent's uid writes it on Docker
		t.Fatal(err)
	}

	out, code := w.run("start", "worker", "--headless", "--prompt", "write the file")
	if code != 0 {
		t.Fatalf("claude: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "DONE wrote-it") {
		t.Errorf("claude's reply with the tool's output is not on stdout:\n%s", out)
	}
	if got, err := os.ReadFile(filepath.Join(w.ws, "written.txt")); err != nil || string(got) != "WRITTEN BY CLAUDE" {
		t.Errorf("the tool call did not write the workspace: %q, %v", got, err)
	}
	var sawPrompt, sawSkill bool
	for _, r := range api.Requests() {
		if r.Authorization != "Bearer "+token {
			t.Errorf("%s reached the model API with Authorization %q, want the real token", r.Path, r.Authorization)
		}
		if strings.Contains(r.Body, provider.Placeholder) {
			t.Errorf("the placeholder reached the model API in a body to %s", r.Path)
		}
		sawPrompt = sawPrompt || strings.Contains(r.Body, "PROMPTMARK-7")
		sawSkill = sawSkill || strings.Contains(r.Body, "SKILLMARK-3")
	}
	if !sawPrompt || !sawSkill {
		t.Errorf("the model never saw the agent's prompt (%v) or skill (%v)", sawPrompt, sawSkill)
	}

	m := bottleLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no bottle line in the preflight:\n%s", out)
	}
	log := filepath.Join(w.home, "state", m[1], "audit.jsonl")
	if v, code := w.run("audit", "verify", log); code != 0 || !strings.Contains(v, "chain intact") {
		t.Errorf("audit verify %s: exit %d\n%s", log, code, v)
	}
	if a, err := os.ReadFile(log); err != nil || !strings.Contains(string(a), "api.anthropic.com") || strings.Contains(string(a), token) {
		t.Errorf("the audit log records no model request, or holds the token (%v)", err)
	}

	// What the agent can read: its environment, every process's, its
	// home (the CLI's files), /tmp and the workspace. The host reads it,
	// so that the token is never handed to the bottle to search for.
	dump, code := w.run("start", "worker", "--yes", "--", "sh", "-c",
		"env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline; tar -cf - \"$HOME\" /tmp . 2>/dev/null")
	if code != 0 {
		t.Fatalf("reading the bottle: exit %d\n%.2000s", code, dump)
	}
	if !strings.Contains(dump, "CLAUDE_CODE_OAUTH_TOKEN="+provider.Placeholder) || !strings.Contains(dump, ".claude.json") {
		t.Fatalf("the dump lacks the placeholder or the CLI's files: the check would see nothing\n%.2000s", dump)
	}
	if strings.Contains(dump, token) {
		t.Errorf("the real token is readable in the bottle")
	}
}

// TestNativeClaudeKeepsItsHistory: with --keep-home, a resumed claude
// bottle goes on with the conversation it had (claude --continue finds it
// in the kept home); without, it starts a new one.
func TestNativeClaudeKeepsItsHistory(t *testing.T) {
	claudeKeepsItsHistory(t, nativeClaudeWorld(t), "127.0.0.1:0")
}

// TestDockerClaudeKeepsItsHistory is TestNativeClaudeKeepsItsHistory in
// Docker bottles.
func TestDockerClaudeKeepsItsHistory(t *testing.T) {
	agentcli.Bin(t, "claude")
	w := newWorld(t)
	claudeKeepsItsHistory(t, w, upstreamNet(t, w))
}

func claudeKeepsItsHistory(t *testing.T, w *world, fakeAddr string) {
	t.Helper()
	api := &fakeapi.Anthropic{Script: func(r *fakeapi.Request) fakeapi.Turn {
		if strings.Contains(r.Body, "FIRST-PROMPT") && strings.Contains(r.Body, "SECOND-PROMPT") {
			return fakeapi.Turn{Text: "REMEMBERED"}
		}
		return fakeapi.Turn{Text: "NEW-CONVERSATION"}
	}}
	fakeAnthropic(t, w, api, "sk-ant-oat01-"+strings.Repeat("H5", 20), fakeAddr)
	w.writeManifest("agents", "worker", "---\nbottle: claude\n---\nAnswer briefly.\n")
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--keep-home"}, "REMEMBERED"},
		{nil, "NEW-CONVERSATION"},
	} {
		out, code := w.run(append([]string{"start", "worker", "--headless", "--prompt", "FIRST-PROMPT"}, tc.flags...)...)
		if code != 0 || !strings.Contains(out, "NEW-CONVERSATION") {
			t.Fatalf("start %v: exit %d\n%s", tc.flags, code, out)
		}
		m := bottleLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no bottle line in the preflight:\n%s", out)
		}
		out, code = w.run("resume", m[1], "--headless", "--prompt", "SECOND-PROMPT")
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("resume of a bottle started with %v: exit %d, want %s\n%s", tc.flags, code, tc.want, out)
		}
	}
}

// TestNativeClaudeContinuesNothing: a kept home whose CLI never held a
// conversation (the UI opened and closed) resumes into a new one: claude
// --continue with nothing to continue still answers.
func TestNativeClaudeContinuesNothing(t *testing.T) {
	w := nativeClaudeWorld(t)
	api := &fakeapi.Anthropic{Script: func(*fakeapi.Request) fakeapi.Turn { return fakeapi.Turn{Text: "FRESH-ANSWER"} }}
	fakeAnthropic(t, w, api, "sk-ant-oat01-"+strings.Repeat("N6", 20), "127.0.0.1:0")
	w.writeManifest("agents", "worker", "---\nbottle: claude\n---\nAnswer briefly.\n")
	term := w.onTerminal("start", "worker", "--yes", "--keep-home")
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(screenText(term.out.String()), "bypass permissions on") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt box:\n%s", screenText(term.out.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	term.send("\x03")
	time.Sleep(300 * time.Millisecond)
	term.send("\x03")
	if code := term.exit(); code != 0 {
		t.Fatalf("claude exited %d", code)
	}
	m := regexp.MustCompile(`bottle (worker-[a-z0-9]+)`).FindStringSubmatch(term.out.String())
	if m == nil {
		t.Fatalf("no bottle line:\n%s", screenText(term.out.String()))
	}
	out, code := w.run("resume", m[1], "--headless", "--prompt", "hello")
	if code != 0 || !strings.Contains(out, "FRESH-ANSWER") || !strings.Contains(out, "--continue") {
		t.Fatalf("resume with nothing to continue: exit %d\n%s", code, out)
	}
}
