package sidecar

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// TestGitGateRefusesRouteCredential pushes, with real git through the
// sidecar's gate, a commit whose message holds the credential the
// sidecar injects on a route: a value of no shape gitleaks knows, which
// only the sidecar's known secrets find. It must be refused, named by
// its slot, never shown, and the upstream must stay as it was.
func TestGitGateRefusesRouteCredential(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not found")
	}
	const token = "rt-" + "q8Lm2Vx7Pz4Nw1Kc6Hd9"
	srv := gittest.Start(t)
	srv.NewBare("org/app.git")
	gittest.Commit(t, srv.Dir("org/app.git"), "main", "initial", map[string]string{"README.md": "hi\n"})
	pol := &policy.Policy{
		Tokens: []policy.TokenSlot{{Slot: "EGRESS_TOKEN_0", Env: "API_TOKEN", Hosts: []string{"api.example.com"}}},
		GitGate: &policy.GitGate{Repos: []policy.Repo{{
			Name: "app", URL: srv.URL("org/app.git"), User: "git", Host: srv.Host, Port: srv.Port, Path: srv.Path("org/app.git"),
			HostKey: srv.HostKey, Key: policy.RepoKey{Provider: "static", Slot: "GIT_KEY_0"},
		}}},
	}
	keys := map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(token), "GIT_KEY_0": srv.ClientKey}
	gate, err := newGitGate(pol, keys, t.TempDir(), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gate.Close)
	hs := httptest.NewServer(gate)
	t.Cleanup(hs.Close)

	work := filepath.Join(t.TempDir(), "work")
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		if _, err := os.Stat(work); err == nil {
			cmd.Dir = work
		}
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com", "LC_ALL=C"}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := git("clone", "-q", hs.URL+"/app.git", work); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if out, err := git("commit", "-q", "--allow-empty", "-m", "debug: the token was "+token); err != nil {
		t.Fatalf("commit: %v\n%s", err, out)
	}
	out, err := git("push", "origin", "HEAD:refs/heads/leak")
	if err == nil || !strings.Contains(out, "commit message rule=known-secret:EGRESS_TOKEN_0") {
		t.Fatalf("push: %v, want the route credential refused:\n%s", err, out)
	}
	if strings.Contains(out, token[3:]) {
		t.Errorf("the push's output holds the credential:\n%s", out)
	}
	if refs := gittest.Git(t, srv.Dir("org/app.git"), "for-each-ref", "--format=%(refname)"); refs != "refs/heads/main" {
		t.Errorf("upstream refs = %q, want only refs/heads/main", refs)
	}
}
