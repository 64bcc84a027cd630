package sidecar

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// reloadFixture is a gate over an SSH upstream holding repositories a
// and b, both with a main branch.
type reloadFixture struct {
	t    *testing.T
	srv  *gittest.Server
	gate *gitGate
	keys map[string]secret.Value
	url  string
	// hook, when set, wraps the body of every push the gate receives.
	hook atomic.Pointer[func(io.ReadCloser) io.ReadCloser]
}

// newReloadFixture starts the gate with repos, of which only the names
// and branches are read (see f0repo).
func newReloadFixture(t *testing.T, repos ...policy.Repo) *reloadFixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not found")
	}
	f := &reloadFixture{t: t, srv: gittest.Start(t)}
	for _, name := range []string{"a", "b"} {
		f.srv.NewBare("org/" + name + ".git")
		gittest.Commit(t, f.srv.Dir("org/"+name+".git"), "main", "initial", map[string]string{"README.md": name + "\n"})
	}
	f.keys = map[string]secret.Value{"GIT_KEY_0": f.srv.ClientKey, "GIT_KEY_1": f.srv.ClientKey}
	for i, r := range repos {
		repos[i] = f.repo(r.Name, i, r.Branches...)
	}
	gate, err := newGitGate(f.policy(repos...), f.keys, t.TempDir(), nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gate.Close)
	f.gate = gate
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook := f.hook.Load(); hook != nil && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			r.Body = (*hook)(r.Body)
		}
		gate.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	f.url = hs.URL
	return f
}

// repo declares upstream org/NAME.git as NAME, with key slot GIT_KEY_N.
func (f *reloadFixture) repo(name string, slot int, branches ...string) policy.Repo {
	return policy.Repo{
		Name: name, URL: f.srv.URL("org/" + name + ".git"), User: "git", Host: f.srv.Host, Port: f.srv.Port,
		Path: f.srv.Path("org/" + name + ".git"), HostKey: f.srv.HostKey,
		Key:      policy.RepoKey{Provider: "static", Slot: policy.KeySlotPrefix + string(rune('0'+slot))},
		Branches: branches, ProtectedPaths: []string{},
	}
}

func (f *reloadFixture) policy(repos ...policy.Repo) *policy.Policy {
	return &policy.Policy{GitGate: &policy.GitGate{Repos: repos}}
}

func (f *reloadFixture) reload(repos ...policy.Repo) {
	f.t.Helper()
	if err := f.gate.Reload(f.policy(repos...), f.keys); err != nil {
		f.t.Fatalf("reload: %v", err)
	}
}

// git runs git in dir (if it exists) and returns its output.
func (f *reloadFixture) git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	if _, err := os.Stat(dir); err == nil {
		cmd.Dir = dir
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + f.t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@example.com", "LC_ALL=C"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// clone clones name through the gate and makes a commit in it.
func (f *reloadFixture) clone(name string) (string, error) {
	work := filepath.Join(f.t.TempDir(), name)
	if out, err := f.git(work, "clone", "-q", f.url+"/"+name+".git", work); err != nil {
		return out, err
	}
	if out, err := f.git(work, "commit", "-q", "--allow-empty", "-m", "change"); err != nil {
		f.t.Fatalf("commit: %v\n%s", err, out)
	}
	return work, nil
}

func (f *reloadFixture) mustClone(name string) string {
	f.t.Helper()
	work, err := f.clone(name)
	if err != nil {
		f.t.Fatalf("clone %s: %v\n%s", name, err, work)
	}
	return work
}

func (f *reloadFixture) upstreamHas(name, branch string) bool {
	refs := gittest.Git(f.t, f.srv.Dir("org/"+name+".git"), "for-each-ref", "--format=%(refname)")
	return strings.Contains(refs, "refs/heads/"+branch)
}

func TestGitGateReloadSwapsRepositories(t *testing.T) {
	f := newReloadFixture(t)
	if out, err := f.clone("a"); err == nil || !strings.Contains(out, `no repository "a"`) {
		t.Fatalf("clone of a with no repository: %v, want refused:\n%s", err, out)
	}
	f.reload(f.repo("a", 0))
	workA := f.mustClone("a")

	f.reload(f.repo("b", 1))
	if out, err := f.git(workA, "fetch", "-q", "origin"); err == nil || !strings.Contains(out, `no repository "a"`) {
		t.Errorf("fetch of a after its removal: %v, want refused:\n%s", err, out)
	}
	if out, err := f.git(workA, "push", "origin", "HEAD:refs/heads/feature"); err == nil || !strings.Contains(out, `no repository "a"`) {
		t.Errorf("push to a after its removal: %v, want refused:\n%s", err, out)
	}
	if f.upstreamHas("a", "feature") {
		t.Error("the push to a removed repository reached its upstream")
	}
	workB := f.mustClone("b")
	if out, err := f.git(workB, "push", "origin", "HEAD:refs/heads/feature"); err != nil {
		t.Fatalf("push to b: %v\n%s", err, out)
	}
	if !f.upstreamHas("b", "feature") {
		t.Error("the push to b did not reach its upstream")
	}
}

func TestGitGateReloadNarrowsBranches(t *testing.T) {
	f := newReloadFixture(t, f0repo("a", "dev", "feat")...)
	work := f.mustClone("a")
	if out, err := f.git(work, "push", "origin", "HEAD:refs/heads/feat"); err != nil {
		t.Fatalf("push to feat before the reload: %v\n%s", err, out)
	}
	f.reload(f.repo("a", 0, "dev"))
	if out, err := f.git(work, "commit", "-q", "--allow-empty", "-m", "again"); err != nil {
		t.Fatalf("commit: %v\n%s", err, out)
	}
	if out, err := f.git(work, "push", "origin", "HEAD:refs/heads/feat"); err == nil || !strings.Contains(out, "branch not allowed; pushable branches: dev") {
		t.Errorf("push to feat after the reload allowed only dev: %v, want the branch refused:\n%s", err, out)
	}
	if out, err := f.git(work, "push", "origin", "HEAD:refs/heads/dev"); err != nil {
		t.Errorf("push to dev after the reload: %v\n%s", err, out)
	}
}

func TestGitGateBadReloadKeepsOldPolicy(t *testing.T) {
	f := newReloadFixture(t)
	f.reload(f.repo("a", 0))
	bad := f.repo("b", 1)
	bad.Key.Slot = "GIT_KEY_9" // not handed to the sidecar
	if err := f.gate.Reload(f.policy(bad), f.keys); err == nil || !strings.Contains(err.Error(), "GIT_KEY_9") {
		t.Fatalf("reload with a missing key: %v, want an error naming the slot", err)
	}
	work := f.mustClone("a")
	if out, err := f.git(work, "push", "origin", "HEAD:refs/heads/feature"); err != nil {
		t.Fatalf("push to a after the bad reload: %v\n%s", err, out)
	}
	if _, err := f.clone("b"); err == nil {
		t.Error("b is served after a reload that failed")
	}
}

// TestGitGateReloadDuringPush removes the repository while a push to it
// is being received: the push started under the old policy and must
// finish under it, and the next one must be refused.
func TestGitGateReloadDuringPush(t *testing.T) {
	f := newReloadFixture(t, f0repo("a")...)
	work := f.mustClone("a")
	var once sync.Once
	var reloaded atomic.Bool
	hook := func(body io.ReadCloser) io.ReadCloser {
		return readHook{body, func() {
			once.Do(func() {
				if err := f.gate.Reload(f.policy(f.repo("b", 1)), f.keys); err != nil {
					t.Errorf("reload: %v", err)
				}
				reloaded.Store(true)
			})
		}}
	}
	f.hook.Store(&hook)
	if out, err := f.git(work, "push", "origin", "HEAD:refs/heads/feature"); err != nil {
		t.Fatalf("push during the reload: %v\n%s", err, out)
	}
	if !reloaded.Load() {
		t.Fatal("the reload did not happen during the push")
	}
	if !f.upstreamHas("a", "feature") {
		t.Error("the push begun before the reload did not reach the upstream")
	}
	if out, err := f.git(work, "push", "origin", "HEAD:refs/heads/other"); err == nil || !strings.Contains(out, `no repository "a"`) {
		t.Errorf("push after the reload: %v, want refused:\n%s", err, out)
	}
}

// f0repo is a policy repository list for newReloadFixture, built before
// the fixture's server exists: the fixture fills in the upstream.
func f0repo(name string, branches ...string) []policy.Repo {
	return []policy.Repo{{Name: name, Branches: branches}}
}

// readHook calls fn before the first read of its body.
type readHook struct {
	io.ReadCloser
	fn func()
}

func (h readHook) Read(p []byte) (int, error) {
	h.fn()
	return h.ReadCloser.Read(p)
}
