package escape

import (
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// liveRepoName is the repository the live policy test adds to a running
// bottle's git gate, and its path on the suite's git server.
const (
	liveRepoName = "app"
	liveRepoPath = "team/app.git"
)

// liveRepo is the live policy test's git upstream: a real SSH git server
// at Harness.GitHost, which the sidecar reaches and the bottle must not.
type liveRepo struct {
	t   *testing.T
	srv *gittest.Server
}

func (h *Harness) startLiveRepo(t *testing.T) *liveRepo {
	t.Helper()
	if h.GitHost == "" {
		t.Fatal("the harness has no GitHost: the live policy test needs a git upstream the sidecar can reach")
	}
	srv := gittest.Start(t, gittest.WithAddr(h.GitHost+":0"))
	srv.NewBare(liveRepoPath)
	gittest.Commit(t, srv.Dir(liveRepoPath), "main", "initial", map[string]string{"README.md": "live\n"})
	return &liveRepo{t: t, srv: srv}
}

// gate returns pol with the repository in its git gate, and the key to
// hand the sidecar with it.
func (r *liveRepo) gate(pol *policy.Policy) (*policy.Policy, map[string]secret.Value) {
	slot := policy.KeySlotPrefix + "0"
	pol.GitGate = &policy.GitGate{Repos: []policy.Repo{{
		Name: liveRepoName, URL: r.srv.URL(liveRepoPath), User: "git", Host: r.srv.Host, Port: r.srv.Port,
		Path: r.srv.Path(liveRepoPath), HostKey: r.srv.HostKey,
		Key: policy.RepoKey{Provider: "static", Slot: slot}, ProtectedPaths: []string{},
	}}}
	return pol, map[string]secret.Value{slot: r.srv.ClientKey}
}

// has reports whether the upstream holds branch.
func (r *liveRepo) has(branch string) bool {
	r.t.Helper()
	refs := gittest.Git(r.t, r.srv.Dir(liveRepoPath), "for-each-ref", "--format=%(refname)")
	return strings.Contains(refs+"\n", "refs/heads/"+branch+"\n")
}

// pushScript pushes a new commit to branch through the gate from the
// bottle's clone in ~/live-app, cloning it first when it is missing, or
// from a fresh repository when fresh is set.
func pushScript(branch string, fresh bool) string {
	url := "http://" + gitgate.Host + "/" + liveRepoName + ".git"
	git := "git -c user.name=agent -c user.email=agent@example.invalid "
	prep := "test -d ~/live-app || git clone -q " + url + " ~/live-app; cd ~/live-app"
	if fresh {
		prep = "cd $(mktemp -d) && git init -q"
	}
	return "set -e; " + prep + "; " + git + "commit -q --allow-empty -m " + branch + "; " + git + "push " + url + " HEAD:refs/heads/" + branch + " 2>&1"
}
