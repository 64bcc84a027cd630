//go:build linux

package cli_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// gateWorld is a native world whose bottle "gated" declares repositories
// of a real SSH git server, and whose agent "gitter" runs in it.
type gateWorld struct {
	*world
	srv     *gittest.Server
	keyFile string
}

// upstream repositories of the gated bottle, by manifest name.
const (
	repoApp      = "org/app.git"
	repoSmall    = "org/small.git"
	repoNoKey    = "org/nokey.git"
	repoWrongKey = "org/wrongkey.git"
)

func newGateWorld(t *testing.T, extra string) *gateWorld {
	t.Helper()
	w := newNativeWorld(t)
	srv := gittest.Start(t)
	for _, r := range []string{repoApp, repoSmall, repoNoKey, repoWrongKey} {
		srv.NewBare(r)
		gittest.Commit(t, srv.Dir(r), "main", "initial", map[string]string{"README.md": "hello\n", "src/lib.go": "package lib\n"})
	}
	// Outside /tmp, which bottles do not share, so that only hiding
	// keeps the agent from reading it.
	keyDir, err := os.MkdirTemp("/var/tmp", "bot-bottle-key-") //nolint:usetesting // t.TempDir is under /tmp
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(keyDir) })
	keyFile := filepath.Join(keyDir, "deploy_key")
	// World-readable, as a careless operator might leave it: the agent
	// user must still not read it.
	if err := os.WriteFile(keyFile, []byte(srv.ClientKey.Reveal()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	other := gittest.Start(t) // a server whose host key is not the pinned one
	key := fmt.Sprintf("{provider: static, path: %s}", keyFile)
	w.writeManifest("bottles", "gated", fmt.Sprintf(`---
agent_provider:
  template: shell
workspace:
  mode: mount
git-gate:
  user: {name: Agent, email: agent@example.invalid}
  repos:
    app:
      url: %s
      key: %s
      host_key: %s
    small:
      url: %s
      key: %s
      host_key: %s
      max_push_bytes: 64k
    nokey:
      url: %s
      key: %s
    wrongkey:
      url: %s
      key: %s
      host_key: %s
%s---
`, srv.URL(repoApp), key, srv.HostKey, srv.URL(repoSmall), key, srv.HostKey, srv.URL(repoNoKey), key, srv.URL(repoWrongKey), key, other.HostKey, extra))
	w.writeManifest("agents", "gitter", "---\nbottle: gated\n---\nPush carefully.\n")
	// A root operator's tree must be writable for the agent user.
	if os.Getuid() == 0 {
		if err := os.Chmod(w.ws, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	return &gateWorld{world: w, srv: srv, keyFile: keyFile}
}

// agent runs script in a fresh bottle, in a clone of the app repository
// made through the gate at /tmp/app.
func (g *gateWorld) agent(script string) (string, int) {
	g.t.Helper()
	return g.agentWith(nil, script)
}

// agentWith is agent with extra start flags.
func (g *gateWorld) agentWith(flags []string, script string) (string, int) {
	g.t.Helper()
	args := append([]string{"start", "gitter", "--yes"}, flags...)
	return g.run(append(args, "--", "sh", "-ec",
		"cd /tmp && git clone -q "+g.srv.URL(repoApp)+" app && cd app\n"+script)...)
}

func (g *gateWorld) upstreamRef(repo, ref string) string {
	g.t.Helper()
	out, err := gitOut(g.srv.Dir(repo), "rev-parse", "--verify", "--quiet", ref)
	if err != nil {
		return ""
	}
	return out
}

func TestNativeGitGate(t *testing.T) {
	g := newGateWorld(t, "")
	// Built here so that this file does not itself look like a leak.
	awsKey := "AKIA" + "Z3MHN6VQ4RTWPX2L"

	t.Run("clean push lands", func(t *testing.T) {
		out, code := g.agent(`git config user.name | grep -qx Agent
echo change >> README.md && git commit -qam change
git push -q origin HEAD:refs/heads/feature
git rev-parse HEAD > /workspace/pushed`)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		want := strings.TrimSpace(readFile(t, filepath.Join(g.ws, "pushed")))
		if got := g.upstreamRef(repoApp, "refs/heads/feature"); got != want {
			t.Fatalf("upstream feature = %q, want %q\n%s", got, want, out)
		}
	})

	t.Run("secret refused and upstream unchanged", func(t *testing.T) {
		before := g.upstreamRef(repoApp, "refs/heads/feature")
		out, code := g.agent(fmt.Sprintf(`git checkout -q -b leak origin/feature
printf 'one\ntwo\naws_key = "%s"\n' > config.py && git add config.py && git commit -qm config
git rm -q config.py && git commit -qm "remove it again"
git push origin HEAD:refs/heads/feature`, awsKey))
		if code == 0 || !strings.Contains(out, "remote:") || !strings.Contains(out, "config.py:3") || !strings.Contains(out, "aws-access-token") || !strings.Contains(out, "[remote rejected]") {
			t.Fatalf("exit %d, want a refusal naming config.py:3 and the rule:\n%s", code, out)
		}
		if strings.Contains(strings.ReplaceAll(out, awsKey, ""), awsKey[4:]) {
			t.Fatalf("the secret leaked into the output:\n%s", out)
		}
		if got := g.upstreamRef(repoApp, "refs/heads/feature"); got != before {
			t.Fatalf("upstream feature moved to %s", got)
		}
	})

	t.Run("gitleaks:allow waits for the operator and fails closed", func(t *testing.T) {
		before := g.upstreamRef(repoApp, "refs/heads/feature")
		out, code := g.agentWith([]string{"--supervise-timeout", "2s"}, fmt.Sprintf(`git checkout -q -b allow origin/feature
printf 'aws_key = "%s" # gitleaks:allow\n' > allowed.py && git add allowed.py && git commit -qm allowed
git push origin HEAD:refs/heads/feature`, awsKey))
		for _, want := range []string{"waits for the operator's decision", "no operator decided in time", "gitleaks:allow needs operator approval", "allowed.py:1"} {
			if code == 0 || !strings.Contains(out, want) {
				t.Fatalf("exit %d, want the marked secret held, then refused (%q):\n%s", code, want, out)
			}
		}
		if got := g.upstreamRef(repoApp, "refs/heads/feature"); got != before {
			t.Fatalf("upstream feature moved to %s", got)
		}
	})

	t.Run("secret in a commit message refused", func(t *testing.T) {
		out, code := g.agent(fmt.Sprintf(`git checkout -q -b msg origin/feature
git commit -q --allow-empty -m "tune the cache" -m "id %s"
git push origin HEAD:refs/heads/msg`, awsKey))
		if code == 0 || !strings.Contains(out, "commit message rule=aws-access-token") || !strings.Contains(out, "[remote rejected]") {
			t.Fatalf("exit %d, want the message refused:\n%s", code, out)
		}
		if remote := gateLines(out); strings.Contains(remote, awsKey[4:]) {
			t.Fatalf("the secret leaked into the gate's messages:\n%s", remote)
		}
		if got := g.upstreamRef(repoApp, "refs/heads/msg"); got != "" {
			t.Fatalf("upstream msg = %s, want no such branch", got)
		}
	})

	t.Run("secret in a branch name refused", func(t *testing.T) {
		out, code := g.agent(fmt.Sprintf(`git checkout -q -b named origin/feature
git commit -q --allow-empty -m "an ordinary change"
git push origin HEAD:refs/heads/fix/%s`, awsKey))
		if code == 0 || !strings.Contains(out, "the ref name rule=aws-access-token") || !strings.Contains(out, "[remote rejected]") {
			t.Fatalf("exit %d, want the branch name refused:\n%s", code, out)
		}
		if remote := gateLines(out); strings.Contains(remote, awsKey[4:]) {
			t.Fatalf("the secret leaked into the gate's messages:\n%s", remote)
		}
		if got := g.upstreamRef(repoApp, "refs/heads/fix/"+awsKey); got != "" {
			t.Fatalf("upstream fix/... = %s, want no such branch", got)
		}
	})

	t.Run("force push", func(t *testing.T) {
		out, code := g.agent(`git checkout -q -b f origin/feature
git commit -q --amend -m rewritten
git push -q --force origin HEAD:refs/heads/feature
git rev-parse HEAD > /workspace/forced`)
		want := strings.TrimSpace(readFile(t, filepath.Join(g.ws, "forced")))
		if code != 0 || g.upstreamRef(repoApp, "refs/heads/feature") != want {
			t.Fatalf("exit %d, upstream feature %q, want %q:\n%s", code, g.upstreamRef(repoApp, "refs/heads/feature"), want, out)
		}
	})

	t.Run("push options", func(t *testing.T) {
		out, code := g.agent(`git commit -q --allow-empty -m opts
git push -q -o ci.skip -o reviewer=ops origin HEAD:refs/heads/opts`)
		if got := g.srv.PushOptions(repoApp); code != 0 || strings.Join(got, " ") != "ci.skip reviewer=ops" {
			t.Fatalf("exit %d, upstream saw options %q:\n%s", code, got, out)
		}
	})

	t.Run("branch delete", func(t *testing.T) {
		out, code := g.agent(`git push -q origin :refs/heads/opts`)
		if code != 0 || g.upstreamRef(repoApp, "refs/heads/opts") != "" {
			t.Fatalf("exit %d, opts still upstream:\n%s", code, out)
		}
	})

	t.Run("default branch refused", func(t *testing.T) {
		before := g.upstreamRef(repoApp, "refs/heads/main")
		out, code := g.agent(`echo x >> README.md && git commit -qam direct
git push origin HEAD:main`)
		if code == 0 || !strings.Contains(out, "[remote rejected]") || g.upstreamRef(repoApp, "refs/heads/main") != before {
			t.Fatalf("exit %d, want main refused:\n%s", code, out)
		}
	})

	t.Run("protected path refused", func(t *testing.T) {
		out, code := g.agent(`mkdir -p .github/workflows && echo 'on: push' > .github/workflows/ci.yml
git add .github && git commit -qm ci
git push origin HEAD:refs/heads/ci`)
		if code == 0 || !strings.Contains(out, ".github/workflows/ci.yml") || g.upstreamRef(repoApp, "refs/heads/ci") != "" {
			t.Fatalf("exit %d, want the workflow change refused:\n%s", code, out)
		}
	})

	t.Run("oversize refused", func(t *testing.T) {
		noise := make([]byte, 150<<10)
		_, _ = rand.Read(noise)
		if err := os.WriteFile(filepath.Join(g.ws, "noise"), []byte(base64.StdEncoding.EncodeToString(noise)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, code := g.run("start", "gitter", "--yes", "--", "sh", "-ec", `cd /tmp && git clone -q `+g.srv.URL(repoSmall)+` small && cd small
cp /workspace/noise . && git add noise && git commit -qm big
git push origin HEAD:refs/heads/big`)
		if code == 0 || !strings.Contains(out, "over the 64.0 KiB limit") || g.upstreamRef(repoSmall, "refs/heads/big") != "" {
			t.Fatalf("exit %d, want the push refused as too large:\n%s", code, out)
		}
	})

	t.Run("missing host key connects nowhere", func(t *testing.T) {
		out, code := g.run("start", "gitter", "--yes", "--", "git", "clone", g.srv.URL(repoNoKey), "/tmp/x")
		if code == 0 || !strings.Contains(out, "no host_key pinned") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		// The preflight says so before anything starts.
		for _, want := range []string{"nokey " + g.srv.URL(repoNoKey) + " (no host_key pinned: the gate will not connect)", "app " + g.srv.URL(repoApp) + " (static key; push: any branch but the default; 3 protected path(s))"} {
			if !strings.Contains(out, want) {
				t.Errorf("preflight lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("wrong host key connects nowhere", func(t *testing.T) {
		out, code := g.run("start", "gitter", "--yes", "--", "git", "clone", g.srv.URL(repoWrongKey), "/tmp/x")
		if code == 0 || !strings.Contains(out, "host key") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	t.Run("the agent holds no key", func(t *testing.T) {
		// (sh -e ignores a failing "! cmd": each check exits itself.)
		// (grep -r exits 2 on an unreadable file even when it matched.)
		out, code := g.agent(`if grep -rl "PRIVATE KEY" $HOME /tmp /etc /var/tmp 2>/dev/null | grep .; then echo key-in-a-file; exit 1; fi
if env | grep -q "PRIVATE KEY"; then echo key-in-env; exit 1; fi
cat ~/.gitconfig`)
		if code != 0 || !strings.Contains(out, "insteadOf") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	t.Run("the upstream is out of the agent's reach", func(t *testing.T) {
		// Without the gitconfig's rewrite, git goes straight to the
		// upstream's SSH port: the bottle has no route to it, so ssh
		// fails to connect (a reachable server would refuse the key
		// instead).
		out, code := g.run("start", "gitter", "--yes", "--", "sh", "-c", `HOME=/tmp GIT_SSH_COMMAND="ssh -o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=5" git ls-remote `+g.srv.URL(repoApp))
		if code == 0 || !strings.Contains(out, "ssh: connect to host") || strings.Contains(out, "Permission denied") {
			t.Fatalf("exit %d, want ssh unable to connect:\n%s", code, out)
		}
	})

	t.Run("fetch sees upstream changes made after start", func(t *testing.T) {
		c := g.cmd("start", "gitter", "--yes", "--", "sh", "-ec", `cd /tmp && git clone -q `+g.srv.URL(repoApp)+` app && cd app
touch /workspace/cloned
while [ ! -e /workspace/go ]; do sleep 0.05; done
git fetch -q origin && git log -1 --format=%s origin/main`)
		var out backendtest.SyncBuffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); !exists(filepath.Join(g.ws, "cloned")); {
			if time.Now().After(deadline) {
				t.Fatalf("never cloned:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		gittest.Commit(t, g.srv.Dir(repoApp), "main", "made upstream later", map[string]string{"late.txt": "late\n"})
		if err := os.WriteFile(filepath.Join(g.ws, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(); err != nil || !strings.Contains(out.String(), "made upstream later") {
			t.Fatalf("%v:\n%s", err, out.String())
		}
	})
	g.requireNativeClean()
}

func gitOut(dir string, args ...string) (string, error) {
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// fakeGitea is the deploy-key API of a Gitea in front of a gittest
// server: a key it registers may then fetch and push there.
type fakeGitea struct {
	t     *testing.T
	git   *gittest.Server
	token string

	mu      sync.Mutex
	next    int64
	created []int64
	deleted []int64
	// failDelete answers deletes with a server error.
	failDelete bool
}

func (f *fakeGitea) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "token "+f.token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/repos/org/forge/keys":
		var req struct {
			Title    string `json:"title"`
			Key      string `json:"key"`
			ReadOnly bool   `json:"read_only"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ReadOnly || !strings.HasPrefix(req.Key, "ssh-ed25519 ") {
			http.Error(w, "bad key", http.StatusUnprocessableEntity)
			return
		}
		f.git.AuthorizeKey(req.Key)
		f.next++
		f.created = append(f.created, f.next)
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, `{"id":%d,"key":%q,"title":%q}`, f.next, req.Key, req.Title)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v1/repos/org/forge/keys/"):
		if f.failDelete {
			http.Error(w, "database is locked", http.StatusInternalServerError)
			return
		}
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/v1/repos/org/forge/keys/"), 10, 64)
		f.deleted = append(f.deleted, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (f *fakeGitea) calls() (created, deleted []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.created), slices.Clone(f.deleted)
}

func TestNativeGitGateDeployKey(t *testing.T) {
	w := newNativeWorld(t)
	git := gittest.Start(t)
	git.NewBare("org/forge.git")
	gittest.Commit(t, git.Dir("org/forge.git"), "main", "initial", map[string]string{"README.md": "forge\n"})
	gitea := &fakeGitea{t: t, git: git, token: "gitea-test-token-" + strconv.Itoa(os.Getpid())}
	api := httptest.NewTLSServer(gitea)
	t.Cleanup(api.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	w.env = append(w.env, "GITEA_TOKEN="+gitea.token, "BOT_BOTTLE_UPSTREAM_CA="+caFile)
	w.writeManifest("bottles", "forged", fmt.Sprintf(`---
agent_provider:
  template: shell
git-gate:
  repos:
    forge:
      url: %s
      key: {provider: gitea, forge_token_env: GITEA_TOKEN, api_url: %s/api/v1}
      host_key: %s
---
`, git.URL("org/forge.git"), api.URL, git.HostKey))
	w.writeManifest("agents", "forger", "---\nbottle: forged\n---\n")

	t.Run("revoked after the bottle ends", func(t *testing.T) {
		out, code := w.run("start", "forger", "--yes", "--", "sh", "-ec", "git clone -q "+git.URL("org/forge.git")+" /tmp/f && cat /tmp/f/README.md")
		created, deleted := gitea.calls()
		if code != 0 || !strings.Contains(out, "forge") || len(created) != 1 || !slices.Equal(created, deleted) {
			t.Fatalf("exit %d, created %v, deleted %v:\n%s", code, created, deleted, out)
		}
	})

	t.Run("revoked by stop of a detached bottle", func(t *testing.T) {
		out, err := w.cmd("start", "forger", "--yes", "--detach", "--", "sleep", "600").Output()
		slug := strings.TrimSpace(string(out)) // start --detach prints the slug alone on stdout
		created, deleted := gitea.calls()
		if err != nil || len(created) != len(deleted)+1 {
			t.Fatalf("%v, created %v, deleted %v: %q", err, created, deleted, out)
		}
		if out, code := w.run("stop", slug); code != 0 {
			t.Fatalf("stop %s: exit %d:\n%s", slug, code, out)
		}
		if created, deleted = gitea.calls(); !slices.Equal(created, deleted) {
			t.Fatalf("after stop: created %v, deleted %v", created, deleted)
		}
	})

	t.Run("revoked by the keeper when a detached bottle ends on its own", func(t *testing.T) {
		// No CLI is left when the command ends: the keeper retires the
		// bottle, and its key must not stay on the forge until someone
		// runs cleanup.
		out, err := w.cmd("start", "forger", "--yes", "--detach", "--", "sleep", "2").Output()
		slug := strings.TrimSpace(string(out))
		created, deleted := gitea.calls()
		if err != nil || len(created) != len(deleted)+1 {
			t.Fatalf("%v, created %v, deleted %v: %q", err, created, deleted, out)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, deleted = gitea.calls(); slices.Equal(created, deleted) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bottle %s ended and its key was not revoked: created %v, deleted %v", slug, created, deleted)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if rec, err := launch.ReadRecord(w.home, slug); err != nil || len(rec.DeployKeys) != 0 {
			t.Fatalf("record after the keeper retired it: %+v, %v", rec, err)
		}
	})

	t.Run("revoked by cleanup after the CLI was killed", func(t *testing.T) {
		c, _ := w.startSleeping(t, "forger")
		_ = c.Process.Kill()
		_ = c.Wait()
		created, deleted := gitea.calls()
		if len(created) != len(deleted)+1 {
			t.Fatalf("created %v, deleted %v before cleanup", created, deleted)
		}
		cout, code := w.run("cleanup", "--yes")
		if _, deleted = gitea.calls(); code != 0 || !slices.Equal(created, deleted) || !strings.Contains(cout, "deploy key") {
			t.Fatalf("cleanup exit %d, created %v, deleted %v:\n%s", code, created, deleted, cout)
		}
		if cout, _ := w.run("cleanup", "--yes"); !strings.Contains(cout, "nothing to clean up") {
			t.Fatalf("second cleanup:\n%s", cout)
		}
	})
	t.Run("a failed revoke is loud and left to cleanup", func(t *testing.T) {
		gitea.mu.Lock()
		gitea.failDelete = true
		gitea.mu.Unlock()
		out, _ := w.run("start", "forger", "--yes", "--", "true")
		created, deleted := gitea.calls()
		last := created[len(created)-1]
		if slices.Contains(deleted, last) || !strings.Contains(out, fmt.Sprintf("deploy key %d of repository forge", last)) || !strings.Contains(out, "500") {
			t.Fatalf("created %v, deleted %v; want a loud failure for key %d:\n%s", created, deleted, last, out)
		}
		gitea.mu.Lock()
		gitea.failDelete = false
		gitea.mu.Unlock()
		cout, code := w.run("cleanup", "--yes")
		if _, deleted = gitea.calls(); code != 0 || !slices.Contains(deleted, last) || !strings.Contains(cout, fmt.Sprintf("deploy key %d", last)) {
			t.Fatalf("cleanup exit %d, deleted %v, want %d:\n%s", code, deleted, last, cout)
		}
	})
	w.requireNativeClean()
}

// gateLines returns the lines the gate sent (git prints them after
// "remote:"); the agent's own git echoes its ref names elsewhere.
func gateLines(out string) string {
	var b strings.Builder
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "remote:") {
			b.WriteString(l)
		}
	}
	return b.String()
}
