//go:build linux

package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/bot-bottle/bot-bottle/internal/provider"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/agentcli"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakeapi"
)

// codexToken is the host's OpenAI key: the shape of a project key.
var codexToken = "sk-proj-" + strings.Repeat("T3", 24)

// fakeOpenAI serves api with TLS on addr (host:0) and points w's bottles
// at it: the sidecar resolves api.openai.com there and trusts its CA, and
// injects token, the host's OPENAI_API_KEY, on the codex bottle's route.
func fakeOpenAI(t *testing.T, w *world, api *fakeapi.OpenAI, token, addr string) {
	t.Helper()
	// HTTP/1.1 only, as the proxy speaks it upstream: a WebSocket upgrade
	// needs it.
	fakeAPI(t, w, api, "api.openai.com", addr, []string{"http/1.1"})
	w.env = append(w.env, "OPENAI_API_KEY="+token)
}

// codexWrites is the model of the codex tests: it has Codex run a shell
// command that writes the workspace, then answers with what it saw.
func codexWrites(r *fakeapi.Request) fakeapi.Turn {
	if len(r.ToolResults) == 0 {
		return fakeapi.Turn{Tool: "exec_command", Input: map[string]any{"cmd": "echo done > out.txt && echo wrote-$((6*7))"}}
	}
	if last := r.ToolResults[len(r.ToolResults)-1]; !strings.Contains(last, "wrote-42") {
		return fakeapi.Turn{Text: "CODEX-UNEXPECTED " + last}
	}
	return fakeapi.Turn{Text: "CODEX-REPLY the command wrote out.txt"}
}

// codexExec runs start with args (after the agent's name, coder) in a
// codex bottle of w whose model API is api at fakeAddr, and returns what
// it printed on stdout once Codex ended.
func codexExec(t *testing.T, w *world, api *fakeapi.OpenAI, fakeAddr string, args ...string) string {
	t.Helper()
	api.Script = codexWrites
	fakeOpenAI(t, w, api, codexToken, fakeAddr)
	skill := filepath.Join(w.home, "skills", "bottle-notes")
	if err := os.MkdirAll(skill, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(skill, "SKILL.md"), []byte("---\nname: bottle-notes\ndescription: SKILLMARK-5 keeps notes about the bottle\n---\nWrite notes.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.writeManifest("agents", "coder", "---\nbottle: codex\nskills: [bottle-notes]\n---\nPROMPTMARK-9: do what you are asked.\n")
	if err := os.Chmod(w.ws, 0o777); err != nil { // the agent's uid writes it
		t.Fatal(err)
	}
	c := w.cmd(append([]string{"start", "coder"}, args...)...)
	var stdout, stderr backendtest.SyncBuffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("codex: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(5 * time.Minute):
		_ = c.Process.Kill()
		<-done
		t.Fatalf("codex did not end:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	t.Logf("codex stderr:\n%s", stderr.String())
	return stdout.String()
}

// checkCodexRun checks a run of codexExec: the reply on stdout, the
// workspace written by the tool call, every model request made over
// transport with the real key and no placeholder, the key in no body,
// and the bottle's audit log intact.
func checkCodexRun(t *testing.T, w *world, api *fakeapi.OpenAI, stdout, transport string) {
	t.Helper()
	if !strings.Contains(stdout, "CODEX-REPLY the command wrote out.txt") {
		t.Errorf("stdout lacks the model's reply:\n%s", stdout)
	}
	if data, err := os.ReadFile(filepath.Join(w.ws, "out.txt")); err != nil || string(data) != "done\n" {
		t.Errorf("the tool call did not write the workspace: out.txt = %q, %v", data, err)
	}
	var model, results int
	for _, r := range api.Requests() {
		t.Logf("model API: %s %s transport=%q tools=%d results=%q", r.Path, r.Model, r.Transport, len(r.Tools), r.ToolResults)
		if r.Authorization != "Bearer "+codexToken {
			t.Errorf("%s (%s) reached the model API with Authorization %q, want the real key", r.Path, r.Transport, r.Authorization)
		}
		if strings.Contains(r.Body, codexToken) {
			t.Errorf("the real key is in a request body to %s", r.Path)
		}
		if r.Transport == "" {
			continue // a refused upgrade, or a path the fake does not serve
		}
		model++
		if r.Transport != transport {
			t.Errorf("a model request came over %s, want %s", r.Transport, transport)
		}
		results = max(results, len(r.ToolResults))
	}
	var sawPrompt, sawSkill bool
	for _, r := range api.Requests() {
		sawPrompt = sawPrompt || strings.Contains(r.Body, "PROMPTMARK-9")
		sawSkill = sawSkill || strings.Contains(r.Body, "SKILLMARK-5")
	}
	if !sawPrompt || !sawSkill {
		t.Errorf("the model never saw the agent's prompt (%v) or skill (%v)", sawPrompt, sawSkill)
	}
	if model < 2 || results == 0 {
		t.Errorf("the model API saw %d request(s) with at most %d tool result(s), want the call and the answer", model, results)
	}
	logs, _ := filepath.Glob(filepath.Join(w.home, "state", "*", "audit.jsonl"))
	if len(logs) == 0 {
		t.Fatal("no audit log")
	}
	for _, l := range logs {
		if out, code := w.run("audit", "verify", l); code != 0 || !strings.Contains(out, "chain intact") {
			t.Errorf("audit verify %s: exit %d\n%s", l, code, out)
		}
		data, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), codexToken) {
			t.Errorf("the real key is in the audit log %s", l)
		}
	}
}

// TestNativeCodexExec: codex exec in a native codex bottle writes the
// workspace with a tool call and prints the model's answer; over the
// WebSocket Codex opens first, and over server-sent events when the API
// refuses the upgrade.
func TestNativeCodexExec(t *testing.T) {
	codex := agentcli.Bin(t, "codex")
	for _, tc := range []struct {
		transport string
		api       *fakeapi.OpenAI
	}{
		{fakeapi.TransportWebSocket, &fakeapi.OpenAI{}},
		{fakeapi.TransportSSE, &fakeapi.OpenAI{NoWebSocket: true}},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			w := nativeClaudeWorld(t)
			args := []string{"--yes", "--", codex, "exec", "--skip-git-repo-check", "Write out.txt"}
			if tc.transport == fakeapi.TransportWebSocket {
				// The provider's own headless run, codex found on
				// the operator's PATH.
				args = []string{"--headless", "--prompt", "Write out.txt"}
			}
			out := codexExec(t, w, tc.api, "127.0.0.1:0", args...)
			checkCodexRun(t, w, tc.api, out, tc.transport)
		})
	}
}

// TestDockerCodexExec: start --headless in a Docker bottle built from the
// codex template (Codex at the version the template pins), over the
// WebSocket Codex opens by default: the proxy carries it.
func TestDockerCodexExec(t *testing.T) {
	agentcli.Bin(t, "codex") // the real-CLI tests run together, or not at all
	w := newWorld(t)
	api := &fakeapi.OpenAI{}
	out := codexExec(t, w, api, upstreamNet(t, w), "--headless", "--prompt", "Write out.txt")
	checkCodexRun(t, w, api, out, fakeapi.TransportWebSocket)
	if v, code := w.run("start", "coder", "--yes", "--", "codex", "--version"); code != 0 || !strings.Contains(v, "codex-cli "+agentcli.Codex) {
		t.Errorf("the codex template's Codex is not %s (exit %d):\n%s", agentcli.Codex, code, v)
	}
}

// TestDockerCodexInteractive: Codex's interactive UI in a codex bottle, on
// a real terminal, opens on its prompt: the placeholder API-key login
// leaves no sign-in or onboarding screen, and the workspace is trusted; a
// prompt typed there reaches the model API with the real key, and the
// reply is shown.
func TestDockerCodexInteractive(t *testing.T) {
	agentcli.Bin(t, "codex")
	w := newWorld(t)
	codexInteractive(t, w, upstreamNet(t, w))
}

// TestNativeCodexInteractive is TestDockerCodexInteractive in a native
// bottle, which runs the host's codex from the operator's PATH.
func TestNativeCodexInteractive(t *testing.T) {
	codexInteractive(t, nativeClaudeWorld(t), "127.0.0.1:0")
}

// codexInteractive runs Codex's interactive UI in a codex bottle of w on
// a real terminal, the fake model API listening on fakeAddr.
func codexInteractive(t *testing.T, w *world, fakeAddr string) {
	t.Helper()
	api := &fakeapi.OpenAI{Script: func(*fakeapi.Request) fakeapi.Turn { return fakeapi.Turn{Text: "PONGPONG"} }}
	fakeOpenAI(t, w, api, codexToken, fakeAddr)
	w.writeManifest("agents", "chatter", "---\nbottle: codex\n---\nAnswer briefly.\n")

	term := w.onTerminal("start", "chatter", "--yes", "--label", "chat")
	// Codex lays its UI out to the terminal's size: a pty's is 0x0.
	if err := pty.Setsize(term.tty, &pty.Winsize{Rows: 40, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(screenText(term.out.String()), "Ask Codex to do anything") {
		if time.Now().After(deadline) {
			out := term.out.String()
			t.Fatalf("no prompt:\n%s\nlast bytes: %q", screenText(out), out[max(0, len(out)-1500):])
		}
		time.Sleep(100 * time.Millisecond)
	}
	term.send("ping")
	time.Sleep(500 * time.Millisecond) // the composer takes the text before the key
	term.send("\r")
	term.expect("PONGPONG")
	// Without a login the sign-in screen replaces the composer once
	// Codex has started: read everything shown up to the reply.
	screen := screenText(term.out.String())
	for _, q := range []string{"Welcome to Codex", "Sign in", "API key", "trust the contents", "Do you trust", "Approval mode"} {
		if strings.Contains(screen, q) {
			t.Fatalf("Codex asked %q before it answered:\n%s", q, screen)
		}
	}
	term.send("\x03")
	time.Sleep(300 * time.Millisecond)
	term.send("\x03")
	exited := make(chan int, 1)
	go func() { exited <- term.exit() }()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("codex exited %d:\n%s", code, screenText(term.out.String()))
		}
	case <-time.After(time.Minute):
		t.Fatalf("codex did not exit on Ctrl-C:\n%s", screenText(term.out.String()))
	}
	var model int
	for _, r := range api.Requests() {
		if r.Authorization != "Bearer "+codexToken {
			t.Errorf("%s reached the model API with Authorization %q, want the real key", r.Path, r.Authorization)
		}
		if r.Transport != "" {
			model++
		}
	}
	if model == 0 {
		t.Fatalf("no model request: %+v", api.Requests())
	}
}

// TestNativeCodexRedactsOverWebSocket: a token in Codex's prompt goes to
// the model API redacted, over the WebSocket Codex uses (the codex
// bottle's route redacts), and the audit's WebSocket session event
// counts the redaction and the frames; nothing the agent can read holds
// the real key.
func TestNativeCodexRedactsOverWebSocket(t *testing.T) {
	codex := agentcli.Bin(t, "codex")
	w := newNativeWorld(t)
	api := &fakeapi.OpenAI{}
	const leaked = "ghp_R4nd0mL00k1ngT0kenV4lue9xQ2mZ7wK1pLa" // 36 after ghp_, as GitHub makes them
	codexExec(t, w, api, "127.0.0.1:0", "--yes", "--", codex, "exec", "--skip-git-repo-check", "Write out.txt. My GitHub token is "+leaked)
	var sawPrompt bool
	for _, r := range api.Requests() {
		if strings.Contains(r.Body, leaked) {
			t.Errorf("the token reached the model API over %q", r.Transport)
		}
		sawPrompt = sawPrompt || strings.Contains(r.Body, "My GitHub token is")
	}
	if !sawPrompt {
		t.Fatal("the prompt never reached the model API: the check would see nothing")
	}
	logs, _ := filepath.Glob(filepath.Join(w.home, "state", "*", "audit.jsonl"))
	var ws []string
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if strings.Contains(line, `"method":"websocket"`) && strings.Contains(line, `"host":"api.openai.com"`) {
				ws = append(ws, line)
			}
		}
	}
	var redacted bool
	for _, line := range ws {
		var ev struct {
			Status    int `json:"status"`
			WebSocket struct {
				FramesOut int64 `json:"frames_out"`
				Redacted  int64 `json:"redacted"`
			} `json:"websocket"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Status != 101 || ev.WebSocket.FramesOut == 0 {
			t.Errorf("a WebSocket session event without status 101 or frames: %s", line)
		}
		redacted = redacted || ev.WebSocket.Redacted > 0
	}
	if len(ws) == 0 || !redacted {
		t.Errorf("the audit has %d WebSocket session event(s), none counting a redaction:\n%s", len(ws), strings.Join(ws, "\n"))
	}

	// What the agent can read holds the placeholder login, never the key.
	dump, code := w.run("start", "coder", "--yes", "--", "sh", "-c",
		"env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline; tar -cf - \"$HOME\" /tmp . 2>/dev/null")
	if code != 0 {
		t.Fatalf("reading the bottle: exit %d\n%.2000s", code, dump)
	}
	if !strings.Contains(dump, provider.Placeholder) || !strings.Contains(dump, "auth.json") {
		t.Fatalf("the dump lacks the placeholder login: the check would see nothing\n%.2000s", dump)
	}
	if strings.Contains(dump, codexToken) {
		t.Error("the real key is readable in the bottle")
	}
}
