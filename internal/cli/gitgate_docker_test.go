//go:build linux

package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// TestDockerGitGate runs real git in a Docker bottle against a real SSH
// upstream that only the sidecar can reach: the upstream listens on the
// host side of an --internal network the sidecar egresses through.
func TestDockerGitGate(t *testing.T) {
	w := newWorld(t)
	net := fmt.Sprintf("bot-bottle-test-git-%d", time.Now().UnixNano()%1_000_000)
	if out, err := exec.Command("docker", "network", "create", "--internal", "--label", "io.bot-bottle.test=1", net).CombinedOutput(); err != nil {
		t.Fatalf("creating the upstream network: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", net).Run() })
	gw, err := exec.Command("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net).Output()
	if err != nil {
		t.Fatal(err)
	}
	srv := gittest.Start(t, gittest.WithAddr(strings.TrimSpace(string(gw))+":0"))
	srv.NewBare(repoApp)
	gittest.Commit(t, srv.Dir(repoApp), "main", "initial", map[string]string{"README.md": "hello\n"})
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(srv.ClientKey.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "BOT_BOTTLE_DOCKER_EGRESS_NETWORK="+net)
	w.writeManifest("bottles", "gated", fmt.Sprintf(`---
agent_provider:
  template: shell
workspace:
  mode: none
git-gate:
  user: {name: Agent, email: agent@example.invalid}
  repos:
    app:
      url: %s
      key: {provider: static, path: %s}
      host_key: %s
---
`, srv.URL(repoApp), keyFile, srv.HostKey))
	w.writeManifest("agents", "gitter", "---\nbottle: gated\n---\n")
	awsKey := "AKIA" + "Z3MHN6VQ4RTWPX2L"

	out, code := w.run("start", "gitter", "--yes", "--", "sh", "-ec", fmt.Sprintf(`cd /tmp && git clone -q %[1]s app && cd app
echo change >> README.md && git commit -qam change
git push -q origin HEAD:refs/heads/feature
git rev-parse HEAD
printf 'key = "%[2]s"\n' > leak.txt && git add leak.txt && git commit -qm leak
if git push origin HEAD:refs/heads/leak; then echo leak-pushed; exit 1; fi
git checkout -q -B msg origin/feature && git commit -q --allow-empty -m tune -m "id %[2]s"
if git push origin HEAD:refs/heads/msg; then echo message-pushed; exit 1; fi
git checkout -q -B named origin/feature && git commit -q --allow-empty -m ordinary
if git push origin HEAD:refs/heads/fix/%[2]s; then echo name-pushed; exit 1; fi
`, srv.URL(repoApp), awsKey))
	if code != 0 || !strings.Contains(out, "aws-access-token") || !strings.Contains(out, "leak.txt:1") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// Channels other than a file's text: a commit message, a branch name.
	for _, want := range []string{"commit message rule=aws-access-token", "the ref name rule=aws-access-token"} {
		if !strings.Contains(out, want) {
			t.Errorf("the gate did not refuse with %q:\n%s", want, out)
		}
	}
	for _, ref := range []string{"refs/heads/msg", "refs/heads/fix/" + awsKey} {
		if got, _ := gitOut(srv.Dir(repoApp), "rev-parse", "--verify", "--quiet", ref); got != "" {
			t.Errorf("%s reached the upstream: %s", ref, got)
		}
	}
	feature, err := gitOut(srv.Dir(repoApp), "rev-parse", "refs/heads/feature")
	if err != nil || !strings.Contains(out, feature) {
		t.Fatalf("upstream feature %q (%v) is not the commit the agent pushed:\n%s", feature, err, out)
	}
	if leak, _ := gitOut(srv.Dir(repoApp), "rev-parse", "--verify", "--quiet", "refs/heads/leak"); leak != "" {
		t.Fatalf("the leaking branch reached the upstream: %s", leak)
	}
	// The agent's own ssh, without the gitconfig's rewrite, has no route
	// to the upstream: only the sidecar is on its network.
	out, code = w.run("start", "gitter", "--yes", "--", "sh", "-c", `HOME=/tmp GIT_SSH_COMMAND="ssh -o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=5" git ls-remote `+srv.URL(repoApp))
	if code == 0 || !strings.Contains(out, "ssh: connect to host") || strings.Contains(out, "Permission denied") {
		t.Fatalf("exit %d, want ssh unable to connect:\n%s", code, out)
	}
	w.requireClean()
}
