package gitgate_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/pushcheck"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// Built here so that this file does not itself look like a leak.
var (
	channelKey = "AKIA" + "Z3MHN6VQ4RTWPX2L"
	// routeToken is the value of a route's credential the sidecar holds:
	// no gitleaks rule knows its shape, only the known-secret scan does.
	routeToken = "rt-" + "q8Lm2Vx7Pz4Nw1Kc6Hd9"
)

// channelGate is the real gate, with the real Checker (gitleaks rules
// and one known route secret), in front of a real SSH git upstream.
type channelGate struct {
	srv    *gittest.Server
	repo   string // the upstream repository under srv
	url    string // the gate's URL of the repository
	work   string // a clone made through the gate
	events []gitgate.Event
}

func newChannelGate(t *testing.T) *channelGate {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not found")
	}
	g := &channelGate{srv: gittest.Start(t), repo: "org/app.git"}
	g.srv.NewBare(g.repo)
	gittest.Commit(t, g.srv.Dir(g.repo), "main", "initial", map[string]string{"README.md": "hello\n"})
	up, err := upstream.New(upstream.Config{Repo: "app", Host: g.srv.Host, Port: g.srv.Port, Path: g.srv.Path(g.repo), HostKey: g.srv.HostKey, Key: g.srv.ClientKey})
	if err != nil {
		t.Fatal(err)
	}
	det, err := pushcheck.NewDetector()
	if err != nil {
		t.Fatal(err)
	}
	chk, err := pushcheck.New(pushcheck.Config{Detector: det, KnownSecrets: []dlp.Secret{
		{Slot: "EGRESS_TOKEN_0", Value: secret.New(routeToken), Hosts: []string{"api.example.com"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	gate, err := gitgate.New(gitgate.Config{Dir: t.TempDir(), Repos: []gitgate.Repo{{Name: "app", Upstream: up, Checker: chk}}, MaxPackBytes: 1 << 20,
		Audit: func(e gitgate.Event) { g.events = append(g.events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gate)
	t.Cleanup(hs.Close)
	g.url = hs.URL + "/app.git"
	g.work = filepath.Join(t.TempDir(), "work")
	if out, err := agentGit(g.work, nil, "clone", "-q", g.url, g.work); err != nil {
		t.Fatalf("clone through the gate: %v\n%s", err, out)
	}
	return g
}

// agentGit runs git as the agent would, with env over a clean
// environment, and returns its combined output.
func agentGit(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	if _, err := os.Stat(dir); err == nil {
		cmd.Dir = dir
	}
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Agent", "GIT_AUTHOR_EMAIL=agent@example.com",
		"GIT_COMMITTER_NAME=Agent", "GIT_COMMITTER_EMAIL=agent@example.com",
	}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (g *channelGate) git(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := agentGit(g.work, env, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// upstreamRefs lists the upstream's refs and their values.
func (g *channelGate) upstreamRefs(t *testing.T) string {
	t.Helper()
	return gittest.Git(t, g.srv.Dir(g.repo), "for-each-ref", "--format=%(refname) %(objectname)")
}

func (g *channelGate) upstreamHas(t *testing.T, h string) bool {
	t.Helper()
	_, err := agentGit(g.srv.Dir(g.repo), nil, "cat-file", "-e", h)
	return err == nil
}

// TestPushChannels pushes a secret in each channel of a push other than
// a file's text, with real git, through the real gate; each push must be
// refused with a message naming the commit and the channel, never the
// secret, and leave the upstream as it was.
func TestPushChannels(t *testing.T) {
	g := newChannelGate(t)
	// commit makes a commit on a fresh branch off main and returns it.
	commit := func(t *testing.T, branch string, env []string, args ...string) string {
		t.Helper()
		g.git(t, nil, "checkout", "-q", "-B", branch, "origin/main")
		g.git(t, env, append([]string{"commit", "-q", "--allow-empty"}, args...)...)
		return g.git(t, nil, "rev-parse", "HEAD")
	}
	// rawCommit writes HEAD again with header lines added after its
	// committer line, as only git hash-object can, and checks it out.
	rawCommit := func(t *testing.T, branch, headers string) string {
		t.Helper()
		c := commit(t, branch, nil, "-m", "ordinary")
		raw := g.git(t, nil, "cat-file", "commit", c) + "\n"
		head, msg, _ := strings.Cut(raw, "\n\n")
		path := filepath.Join(t.TempDir(), "commit")
		if err := os.WriteFile(path, []byte(head+"\n"+headers+"\n\n"+msg), 0o600); err != nil {
			t.Fatal(err)
		}
		h := g.git(t, nil, "hash-object", "--literally", "-t", "commit", "-w", path)
		g.git(t, nil, "reset", "-q", "--hard", h)
		return h
	}
	file := func(t *testing.T, branch, name, content string) string {
		t.Helper()
		g.git(t, nil, "checkout", "-q", "-B", branch, "origin/main")
		if err := os.WriteFile(filepath.Join(g.work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		g.git(t, nil, "add", "--", name)
		g.git(t, nil, "commit", "-q", "-m", "add a file")
		return g.git(t, nil, "rev-parse", "HEAD")
	}
	binary := string([]byte{0x89, 'P', 'N', 'G', 0, 0, 0, 0x0d, 0xff, 0x10}) + "id=" + channelKey + string([]byte{0, 0xfe, 0x01})

	tests := []struct {
		name string
		// setup makes the push's objects and returns the commit or tag
		// the items name, and the push's arguments after the URL.
		setup func(t *testing.T) (obj string, push []string)
		// want are lines the refusal prints, with OBJ for obj's short hash.
		want []string
	}{
		{"secret in a commit message", func(t *testing.T) (string, []string) {
			return commit(t, "msg", nil, "-m", "fix the build", "-m", "id "+channelKey), []string{"HEAD:refs/heads/msg"}
		}, []string{"OBJ commit message rule=aws-access-token"}},
		{"secret in an annotated tag message", func(t *testing.T) (string, []string) {
			commit(t, "tagmsg", nil, "-m", "release")
			g.git(t, nil, "tag", "-a", "v1.0", "-m", "release notes\n\nid "+channelKey)
			return g.git(t, nil, "rev-parse", "v1.0"), []string{"refs/tags/v1.0"}
		}, []string{"OBJ tag message rule=aws-access-token"}},
		{"secret in the author name", func(t *testing.T) (string, []string) {
			return commit(t, "author", []string{"GIT_AUTHOR_NAME=Dev " + channelKey}, "-m", "change"), []string{"HEAD:refs/heads/author"}
		}, []string{"OBJ commit author rule=aws-access-token"}},
		{"secret in the author email", func(t *testing.T) (string, []string) {
			return commit(t, "email", []string{"GIT_AUTHOR_EMAIL=" + channelKey + "@example.com"}, "-m", "change"), []string{"HEAD:refs/heads/email"}
		}, []string{"OBJ commit author rule=aws-access-token"}},
		{"secret in the committer", func(t *testing.T) (string, []string) {
			return commit(t, "committer", []string{"GIT_COMMITTER_NAME=" + channelKey}, "-m", "change"), []string{"HEAD:refs/heads/committer"}
		}, []string{"OBJ commit committer rule=aws-access-token"}},
		{"secret in a branch name", func(t *testing.T) (string, []string) {
			commit(t, "plain", nil, "-m", "change")
			return "", []string{"HEAD:refs/heads/fix/" + channelKey}
		}, []string{"the ref name rule=aws-access-token"}},
		{"secret in a tag name", func(t *testing.T) (string, []string) {
			commit(t, "lighttag", nil, "-m", "change")
			g.git(t, nil, "tag", "rel-"+channelKey)
			return "", []string{"refs/tags/rel-" + channelKey}
		}, []string{"the ref name rule=aws-access-token"}},
		{"secret in a push option", func(t *testing.T) (string, []string) {
			commit(t, "opt", nil, "-m", "change")
			return "", []string{"-o", "note=" + channelKey, "HEAD:refs/heads/opt"}
		}, []string{"push option 1 rule=aws-access-token"}},
		{"secret in a file path", func(t *testing.T) (string, []string) {
			return file(t, "path", channelKey+".txt", "nothing to see\n"), []string{"HEAD:refs/heads/path"}
		}, []string{"OBJ the name of a file or folder it adds rule=aws-access-token"}},
		{"secret in a binary file", func(t *testing.T) (string, []string) {
			return file(t, "bin", "logo.png", binary), []string{"HEAD:refs/heads/bin"}
		}, []string{"OBJ logo.png rule=aws-access-token"}},
		{"secret in an extra commit header", func(t *testing.T) (string, []string) {
			return rawCommit(t, "hdr", "x-secret "+channelKey), []string{"HEAD:refs/heads/hdr"}
		}, []string{"OBJ commit header rule=aws-access-token", "OBJ commit: a header git does not write, line 5"}},
		{"extra commit header without a secret", func(t *testing.T) (string, []string) {
			return rawCommit(t, "hdr2", "x-note hello"), []string{"HEAD:refs/heads/hdr2"}
		}, []string{"OBJ commit: a header git does not write (x-note), line 5"}},
		{"secret in a forged signature header", func(t *testing.T) (string, []string) {
			return rawCommit(t, "sig", "gpgsig -----BEGIN SSH SIGNATURE-----\n id "+channelKey+"\n -----END SSH SIGNATURE-----"), []string{"HEAD:refs/heads/sig"}
		}, []string{"OBJ commit signature rule=aws-access-token"}},
		{"UTF-16 commit message", func(t *testing.T) (string, []string) {
			return rawCommit(t, "enc", "encoding UTF-16LE"), []string{"HEAD:refs/heads/enc"}
		}, []string{"OBJ commit: an encoding that hides text from the scan (utf-16le), line 5"}},
		{"secret in the name of a branch refused before the check", func(t *testing.T) (string, []string) {
			noise := make([]byte, 2<<20)
			_, _ = rand.Read(noise)
			file(t, "big", "noise.bin", string(noise))
			return "", []string{"HEAD:refs/heads/big/" + channelKey}
		}, []string{"gate: push refused: it is larger than the gate's limit of 1.0 MiB; push fewer or smaller commits"}},
		{"route credential in a commit message", func(t *testing.T) (string, []string) {
			return commit(t, "known", nil, "-m", "debug: token was "+routeToken), []string{"HEAD:refs/heads/known"}
		}, []string{"OBJ commit message rule=known-secret:EGRESS_TOKEN_0"}},
		{"route credential base64 in a file", func(t *testing.T) (string, []string) {
			return file(t, "known64", "notes.md", "cache: "+base64.StdEncoding.EncodeToString([]byte(routeToken))+"\n"), []string{"HEAD:refs/heads/known64"}
		}, []string{"OBJ notes.md:1 rule=known-secret:EGRESS_TOKEN_0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.upstreamRefs(t)
			obj, args := tt.setup(t)
			pushed := g.git(t, nil, "rev-parse", "HEAD")
			g.events = nil
			out, err := agentGit(g.work, nil, append([]string{"push", g.url}, args...)...)
			if err == nil {
				t.Fatalf("push succeeded, want a refusal:\n%s", out)
			}
			short := ""
			if obj != "" {
				short = obj[:10]
			}
			remote := remoteLines(out)
			for _, w := range tt.want {
				if !strings.HasPrefix(w, "gate: ") {
					w = "git-gate: " + w
				}
				if w = "remote: " + strings.ReplaceAll(w, "OBJ", short); !strings.Contains(remote, w+"\n") {
					t.Errorf("push printed:\n%s\nwant the line %q", out, w)
				}
			}
			if !strings.Contains(out, "[remote rejected]") {
				t.Errorf("push printed:\n%s\nwant a [remote rejected] line", out)
			}
			for _, s := range []string{channelKey, channelKey[4:], routeToken, routeToken[3:]} {
				if strings.Contains(remote, s) {
					t.Errorf("the gate's messages hold the secret:\n%s", remote)
				}
			}
			if len(g.events) == 0 {
				t.Errorf("no audit event for the refused push")
			}
			for _, e := range g.events {
				if e.Decision != gitgate.DecisionRefuse {
					t.Errorf("audit event %+v, want a refusal", e)
				}
				if strings.Contains(e.Ref+e.Detail, channelKey) || strings.Contains(e.Ref+e.Detail, routeToken) {
					t.Errorf("audit event %+v holds the secret", e)
				}
			}
			if got := g.upstreamRefs(t); got != before {
				t.Errorf("upstream refs changed:\n%s\nwant:\n%s", got, before)
			}
			if g.upstreamHas(t, pushed) {
				t.Errorf("the refused commit %s reached the upstream", pushed)
			}
		})
	}
}

// remoteLines returns the "remote:" lines of git's output, without the
// spaces git pads them with.
func remoteLines(out string) string {
	var b strings.Builder
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "remote:") {
			b.WriteString(strings.TrimRight(l, " \n"))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestPushChannelsCleanPushLands guards against false positives: commits
// and tags as git and people write them (signed with SSH keys, merges of
// signed tags, non-ASCII names, ordinary words like token and key, file
// names with spaces) pass the gate and land upstream.
func TestPushChannelsCleanPushLands(t *testing.T) {
	g := newChannelGate(t)
	keyDir := t.TempDir()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dev@example.com", "-f", filepath.Join(keyDir, "sign")).CombinedOutput(); err != nil {
		t.Skipf("ssh-keygen: %v\n%s", err, out)
	}
	sign := []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + filepath.Join(keyDir, "sign.pub")}
	g.git(t, nil, "checkout", "-q", "-B", "feature", "origin/main")
	for name, content := range map[string]string{
		"docs/api key rotation.md": "Rotate the API token every 90 days; the key lives in the vault.\n",
		"src/token_refresh.go":     "package src\n\n// Refresh renews the session token.\nfunc Refresh() {}\n",
		"assets/icon.bin":          string([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3, 0xff}) + "IHDR plain chunk",
	} {
		path := filepath.Join(g.work, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.git(t, nil, "add", "-A")
	g.git(t, []string{"GIT_AUTHOR_NAME=Zoë Ångström-Núñez", "GIT_AUTHOR_EMAIL=zoe+dev@example.co.uk"},
		append(sign, "commit", "-q", "-S", "-m", "Fix token refresh", "-m", "The API key is read from the vault at start; see docs.\n\nCo-authored-by: Sam <sam@example.com>\nSigned-off-by: Agent <agent@example.com>")...)
	// A signed tag on a side commit, merged as a tag: the merge carries
	// it in a mergetag header.
	g.git(t, nil, "checkout", "-q", "-b", "side")
	g.git(t, nil, "commit", "-q", "--allow-empty", "-m", "side work")
	g.git(t, nil, append(sign, "tag", "-s", "side-v1", "-m", "side release 1")...)
	g.git(t, nil, "checkout", "-q", "feature")
	g.git(t, nil, append(sign, "merge", "-q", "--no-ff", "-S", "-m", "Merge tag side-v1", "side-v1")...)
	if raw := g.git(t, nil, "cat-file", "commit", "HEAD"); !strings.Contains(raw, "\nmergetag ") || !strings.Contains(raw, "\ngpgsig ") {
		t.Fatalf("the merge lacks a mergetag or gpgsig header:\n%s", raw)
	}
	g.git(t, nil, append(sign, "tag", "-s", "v2.0", "-m", "Release 2.0\n\nHighlights: token refresh, key rotation docs.")...)
	head := g.git(t, nil, "rev-parse", "HEAD")
	tag := g.git(t, nil, "rev-parse", "v2.0")

	out, err := agentGit(g.work, nil, "push", "-o", "ci.skip", "-o", "merge_request.title=Fix token refresh", g.url, "HEAD:refs/heads/feature", "refs/tags/v2.0", "refs/tags/side-v1")
	if err != nil {
		t.Fatalf("clean push refused: %v\n%s", err, out)
	}
	if got := gittest.Git(t, g.srv.Dir(g.repo), "rev-parse", "refs/heads/feature"); got != head {
		t.Errorf("upstream feature = %s, want %s", got, head)
	}
	if got := gittest.Git(t, g.srv.Dir(g.repo), "rev-parse", "refs/tags/v2.0"); got != tag {
		t.Errorf("upstream v2.0 = %s, want %s", got, tag)
	}
}
