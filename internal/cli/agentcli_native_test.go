//go:build linux

package cli_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/agentcli"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakeapi"
)

// fakeAnthropic serves api with TLS on addr (host:0) and points w's
// bottles at it: the sidecar resolves api.anthropic.com there and trusts
// its CA, and injects token for the claude bottle's route.
func fakeAnthropic(t *testing.T, w *world, api *fakeapi.Anthropic, token, addr string) {
	t.Helper()
	fakeAPI(t, w, api, "api.anthropic.com", addr, nil)
	w.env = append(w.env, "BOT_BOTTLE_CLAUDE_OAUTH_TOKEN="+token)
}

// fakeAPI serves h with TLS for host on addr (host:0), offering protos
// by ALPN (nil: Go's default), and points w's sidecars at it: they
// resolve host there and trust its CA.
func fakeAPI(t *testing.T, w *world, h http.Handler, host, addr string, protos []string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certPEM, keyPEM := backendtest.UpstreamCert(t, t.TempDir(), host)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: protos}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	w.env = append(w.env, "BOT_BOTTLE_UPSTREAM_CA="+caFile,
		"BOT_BOTTLE_EGRESS_RESOLVE="+host+"="+srv.Listener.Addr().String())
}

// claudeAsks runs the real Claude Code (the claude command) headless in a
// claude bottle of w, whose bottles reach the model API at fakeAddr: the
// model calls the request_route tool of the MCP server bot-bottle
// registered, and the call waits for the operator, for whom decide stands
// once the proposal is listed. It returns what claude printed, once the
// model read the decision. The model API saw the real token on every
// request, never the placeholder.
func claudeAsks(t *testing.T, w *world, claude, fakeAddr string, decide func(w *world, p supervise.Proposal)) string {
	t.Helper()
	token := "sk-ant-oat01-" + strings.Repeat("Q7", 20) // the shape the CLI expects
	api := &fakeapi.Anthropic{Script: func(r *fakeapi.Request) fakeapi.Turn {
		if len(r.ToolResults) == 0 {
			return fakeapi.Turn{Tool: "__request_route", Input: map[string]any{
				"host": "docs.example.test", "paths": []map[string]string{{"type": "prefix", "value": "/api/"}},
				"methods": []string{"GET"}, "reason": "read the API reference",
			}}
		}
		return fakeapi.Turn{Text: "RESULT " + r.ToolResults[len(r.ToolResults)-1]}
	}}
	fakeAnthropic(t, w, api, token, fakeAddr)
	w.writeManifest("agents", "asker", "---\nbottle: claude\nmodel: "+askerModel+"\n---\nAsk for a route before you use a new host.\n")

	const prompt = "Read the API reference at docs.example.test"
	args := []string{"start", "asker", "--yes", "--", claude, "-p", prompt}
	if claude == "claude" {
		// The image's own CLI: the provider's headless run, named.
		args = []string{"start", "asker", "--headless", "--prompt", prompt, "--label", "asker run"}
	}
	cmd := w.cmd(args...)
	out := &backendtest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})

	var p supervise.Proposal
	deadline := time.Now().Add(3 * time.Minute)
	for p.ID == "" {
		select {
		case err := <-done:
			t.Fatalf("claude ended before it asked (%v):\n%s", err, out)
		case <-time.After(300 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no proposal from claude:\n%s", out)
		}
		list, code := w.run("supervise", "list", "--json")
		var ps []supervise.Proposal
		if code != 0 || json.Unmarshal([]byte(list), &ps) != nil {
			continue // the bottle is still starting
		}
		for _, q := range ps {
			if q.Kind == supervise.KindRoute {
				p = q
			}
		}
	}
	if p.Route == nil || p.Route.Host != "docs.example.test" || p.Reason != "read the API reference" {
		t.Fatalf("the proposal = %+v, want claude's request for docs.example.test", p)
	}
	decide(w, p)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("claude: %v\n%s", err, out)
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("claude did not end after the decision:\n%s", out)
	}
	t.Logf("claude:\n%s", out)
	reqs := api.Requests()
	for _, r := range reqs {
		t.Logf("model API: %s tools=%d results=%q", r.Path, len(r.Tools), r.ToolResults)
	}
	if len(reqs) < 2 {
		t.Fatalf("the model API saw %d request(s), want the call and the answer", len(reqs))
	}
	var model bool
	for _, r := range reqs {
		model = model || r.Model == askerModel
		if r.Authorization != "Bearer "+token {
			t.Errorf("%s reached the model API with Authorization %q, want the real token", r.Path, r.Authorization)
		}
		if strings.Contains(r.Body, token) {
			t.Errorf("the real token is in a request body to %s", r.Path)
		}
	}
	if !model && claude == "claude" { // -- CMD runs CMD as given
		t.Errorf("no request asked for the agent's model %s", askerModel)
	}
	return out.String()
}

// askerModel is the model of claudeAsks's agent, which claude is given.
const askerModel = "claude-bottle-test-1"

// requireAll fails t unless out holds every one of wants.
func requireAll(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("claude's answer lacks %q:\n%s", want, out)
		}
	}
}

// TestNativeClaudeAsksOverMCP: approved with the CLI. The claude bottle
// runs the host's claude, found on the operator's PATH outside the home
// as npm install -g would put it: the provider's headless run, as on
// Docker.
func TestNativeClaudeAsksOverMCP(t *testing.T) {
	w := nativeClaudeWorld(t)
	out := claudeAsks(t, w, "claude", "127.0.0.1:0", approveByCommand(t))
	requireAll(t, out, "RESULT", `"status":"approved"`, "the reference only", `"host":"docs.example.test"`)
}

// nativeClaudeWorld is a native world whose PATH has the real agent CLIs
// (claude and codex).
func nativeClaudeWorld(t *testing.T) *world {
	t.Helper()
	bin := filepath.Dir(agentcli.Bin(t, "claude"))
	w := newNativeWorld(t)
	w.env = append(w.env, "PATH="+bin+":"+os.Getenv("PATH"))
	return w
}

// TestNativeClaudeInteractive is TestDockerClaudeInteractive in a native
// bottle.
func TestNativeClaudeInteractive(t *testing.T) {
	claudeInteractive(t, nativeClaudeWorld(t), "127.0.0.1:0")
}

// approveByCommand approves with bot-bottle supervise approve.
func approveByCommand(t *testing.T) func(w *world, p supervise.Proposal) {
	return func(w *world, p supervise.Proposal) {
		t.Helper()
		if msg, code := w.run("supervise", "approve", p.ID, "--notes", "the reference only"); code != 0 {
			t.Fatalf("approve: exit %d\n%s", code, msg)
		}
	}
}

// TestNativeClaudeRejectedInTheTUI: the operator rejects in the view of
// bot-bottle supervise, on a real terminal.
func TestNativeClaudeRejectedInTheTUI(t *testing.T) {
	claude := agentcli.Bin(t, "claude")
	out := claudeAsks(t, newNativeWorld(t), claude, "127.0.0.1:0", func(w *world, p supervise.Proposal) {
		tui := w.cmd("supervise")
		tty, err := pty.StartWithSize(tui, &pty.Winsize{Rows: 40, Cols: 160})
		if err != nil {
			t.Fatal(err)
		}
		defer tty.Close()
		screen := &backendtest.SyncBuffer{}
		go func() { _, _ = io.Copy(screen, tty) }()
		waitScreen := func(s string) {
			t.Helper()
			deadline := time.Now().Add(time.Minute)
			for !strings.Contains(screen.String(), s) {
				if time.Now().After(deadline) {
					t.Fatalf("the supervise view never showed %q:\n%q", s, screen.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		waitScreen(p.ID)
		for _, keys := range []string{"r", "use the internal mirror", "\r"} {
			if _, err := tty.Write([]byte(keys)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		waitScreen("rejected")
		if _, err := tty.Write([]byte("q")); err != nil {
			t.Fatal(err)
		}
		if err := tui.Wait(); err != nil {
			t.Fatalf("bot-bottle supervise: %v\n%q", err, screen.String())
		}
	})
	requireAll(t, out, "RESULT", `"status":"rejected"`, "use the internal mirror")
	if strings.Contains(out, `"route"`) {
		t.Errorf("a rejection granted a route:\n%s", out)
	}
}

// TestNativeCodexReadsTheMCPConfig checks that the real Codex reads the
// MCP server bot-bottle registers, with the timeouts bot-bottle sets.
func TestNativeCodexReadsTheMCPConfig(t *testing.T) {
	codex := agentcli.Bin(t, "codex")
	w := newNativeWorld(t)
	w.env = append(w.env, "OPENAI_API_KEY=sk-test-"+strings.Repeat("k", 20))
	w.writeManifest("agents", "coder", "---\nbottle: codex\n---\nWork.\n")
	out, code := w.run("start", "coder", "--yes", "--", codex, "mcp", "get", "bot-bottle", "--json")
	if code != 0 {
		t.Fatalf("codex mcp get: exit %d\n%s", code, out)
	}
	i := strings.Index(out, "\n{\n") // after the preflight
	if i < 0 {
		t.Fatalf("no JSON from codex mcp get:\n%s", out)
	}
	var got struct {
		Enabled   bool `json:"enabled"`
		Transport struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"transport"`
		StartupTimeoutSec float64 `json:"startup_timeout_sec"`
		ToolTimeoutSec    float64 `json:"tool_timeout_sec"`
	}
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&got); err != nil {
		t.Fatalf("reading codex mcp get: %v\n%s", err, out)
	}
	if !got.Enabled || got.Transport.Type != "streamable_http" || got.Transport.URL != "http://_egress.local/mcp" || got.ToolTimeoutSec < 600 || got.StartupTimeoutSec < 20 {
		t.Fatalf("codex reads bot-bottle's MCP server as %+v\n%s", got, out)
	}
}

// TestNativeCLIsReadTheBottlesMCPServers: the MCP servers a bottle
// declares reach the real CLIs' configurations as each reads them: a
// stdio server with its arguments and environment, a remote one by URL.
func TestNativeCLIsReadTheBottlesMCPServers(t *testing.T) {
	w := nativeClaudeWorld(t) // claude and codex on the PATH
	const servers = "mcp_servers:\n  docs:\n    command: [docs-mcp, --stdio, two words]\n    env:\n      DOCS_MODE: offline\n  search:\n    url: https://mcp.example.test/mcp\n"
	const routes = "  - host: mcp.example.test\n"
	w.writeManifest("bottles", "cl", "---\nextends: claude\n"+servers+"egress:\n  routes:\n"+routes+"---\n")
	w.writeManifest("bottles", "cx", "---\nextends: codex\n"+servers+"egress:\n  routes:\n"+routes+"---\n")
	w.writeManifest("agents", "clagent", "---\nbottle: cl\n---\nWork.\n")
	w.writeManifest("agents", "cxagent", "---\nbottle: cx\n---\nWork.\n")
	w.env = append(w.env, "BOT_BOTTLE_CLAUDE_OAUTH_TOKEN=sk-ant-oat01-"+strings.Repeat("M", 40), "OPENAI_API_KEY=sk-test-"+strings.Repeat("k", 20))

	out, code := w.run("start", "cxagent", "--yes", "--", "sh", "-c", "codex mcp get docs --json; echo; codex mcp get search --json")
	if code != 0 {
		t.Fatalf("codex mcp get: exit %d\n%s", code, out)
	}
	requireAll(t, out, `"command": "docs-mcp"`, `"two words"`, `"DOCS_MODE": "offline"`, `"url": "https://mcp.example.test/mcp"`)

	out, code = w.run("start", "clagent", "--yes", "--", "sh", "-c", "claude mcp get docs; claude mcp get search")
	if code != 0 {
		t.Fatalf("claude mcp get: exit %d\n%s", code, out)
	}
	requireAll(t, out, "Type: stdio", "Command: docs-mcp", "Args: --stdio two words", "DOCS_MODE=offline", "Type: http", "URL: https://mcp.example.test/mcp")
}
