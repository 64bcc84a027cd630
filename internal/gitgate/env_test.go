package gitgate

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// env is one gate with one repository, "proj", whose upstream is a local
// bare repository, and a work directory for git clients.
type env struct {
	t        *testing.T
	root     string
	gitEnv   []string
	up       *fakeUpstream
	checker  *fakeChecker
	srv      *Server
	url      string
	mirror   string
	requests *requestLog
	events   *eventLog
}

// with returns e for use in subtest t.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

type envOptions struct {
	maxPack int64
	holder  supervise.Holder
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not found")
	}
	root := t.TempDir()
	e := &env{t: t, root: root, checker: &fakeChecker{}, requests: &requestLog{}, events: &eventLog{}}
	home := filepath.Join(root, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	gitconfig := filepath.Join(root, "gitconfig")
	err := os.WriteFile(gitconfig, []byte(`[user]
	name = Agent
	email = agent@example.com
[init]
	defaultBranch = main
[advice]
	detachedHead = false
[gc]
	auto = 0
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// A minimal environment: nothing from the host's git configuration,
	// and no proxy variables, so the client reaches the loopback server.
	e.gitEnv = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + gitconfig,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}

	upDir := filepath.Join(root, "upstream.git")
	e.run("", "init", "--bare", "--quiet", upDir)
	e.run(upDir, "config", "receive.advertisePushOptions", "true")
	// The upstream records the push options it receives and refuses
	// refs/heads/blocked, as a server-side hook would.
	hook := `#!/bin/sh
i=0
while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do
	eval "echo \"\$GIT_PUSH_OPTION_$i\"" >> "$GIT_DIR/received-options"
	i=$((i+1))
done
while read old new ref; do
	if [ "$ref" = refs/heads/blocked ]; then
		echo "upstream policy: refs/heads/blocked is read-only" >&2
		exit 1
	fi
done
`
	if err := os.WriteFile(filepath.Join(upDir, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	e.up = &fakeUpstream{e: e, dir: upDir}

	e.srv, err = New(Config{
		Dir:          filepath.Join(root, "mirrors"),
		Repos:        []Repo{{Name: "proj", Upstream: e.up, Checker: e.checker}},
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Audit:        e.events.add,
		MaxPackBytes: opts.maxPack,
		Holder:       opts.holder,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(e.requests.wrap(e.srv))
	t.Cleanup(ts.Close)
	e.url = ts.URL + "/proj.git"
	e.mirror = filepath.Join(root, "mirrors", "proj.git")
	return e
}

// seed gives the upstream a first commit on main, made in a scratch
// clone of it, and returns that commit.
func (e *env) seed() string {
	e.t.Helper()
	work := e.path("seed")
	e.run("", "clone", "--quiet", e.up.dir, work)
	e.commit(work, "README", "hello\n", "initial")
	e.run(work, "push", "--quiet", "origin", "main")
	return e.rev(work, "HEAD")
}

// upstreamCommit adds a commit to the upstream's main behind the gate's
// back, as another contributor would.
func (e *env) upstreamCommit(file, content string) string {
	e.t.Helper()
	work := e.path("other")
	if _, err := os.Stat(work); err != nil {
		e.run("", "clone", "--quiet", e.up.dir, work)
	}
	e.run(work, "pull", "--quiet", "--ff-only", "origin", "main")
	e.commit(work, file, content, "upstream change "+file)
	e.run(work, "push", "--quiet", "origin", "main")
	return e.rev(work, "HEAD")
}

// clone clones the gate's repository into a new directory.
func (e *env) clone(name string) string {
	e.t.Helper()
	dir := e.path(name)
	e.run("", "clone", "--quiet", e.url, dir)
	return dir
}

func (e *env) path(name string) string { return filepath.Join(e.root, name) }

func (e *env) commit(dir, file, content, msg string) string {
	e.t.Helper()
	path := filepath.Join(dir, file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.run(dir, "add", file)
	e.run(dir, "commit", "--quiet", "-m", msg)
	return e.rev(dir, "HEAD")
}

// rev returns what rev names in dir, or "" when it names nothing.
func (e *env) rev(dir, rev string) string {
	e.t.Helper()
	out, err := e.git(dir, "rev-parse", "--verify", "--quiet", rev)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// run runs git and fails the test when it fails.
func (e *env) run(dir string, args ...string) string {
	e.t.Helper()
	out, err := e.git(dir, args...)
	if err != nil {
		e.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fail runs git, fails the test when git succeeds, and returns its
// output.
func (e *env) fail(dir string, args ...string) string {
	e.t.Helper()
	out, err := e.git(dir, args...)
	if err == nil {
		e.t.Fatalf("git %s succeeded, want failure\n%s", strings.Join(args, " "), out)
	}
	return out
}

func (e *env) git(dir string, args ...string) (string, error) {
	return runGit(e.t.Context(), e.gitEnv, dir, nil, args...)
}

// runGit runs git in dir; its combined output, unless stderr is set.
func runGit(ctx context.Context, env []string, dir string, stderr *strings.Builder, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if stderr != nil {
		cmd.Stderr = stderr
	}
	err := cmd.Run()
	return out.String(), err
}

// exists reports whether dir's repository holds object h.
func (e *env) exists(dir, h string) bool {
	_, err := e.git(dir, "cat-file", "-e", h)
	return err == nil
}

// eventLog records audit events.
type eventLog struct {
	mu sync.Mutex
	// events is guarded by mu.
	events []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// takeEvents returns the audit events since the last call.
func (e *env) takeEvents() []Event {
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	ev := e.events.events
	e.events.events = nil
	return ev
}

// randomFile returns n incompressible bytes, so that a pack holding them
// is at least n bytes.
func randomFile(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// randomText returns about n bytes of random lines, which git compresses
// only by delta.
func randomText(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	for i, c := range b {
		fmt.Fprintf(&s, "%02x", c)
		if i%32 == 31 {
			s.WriteByte('\n')
		}
	}
	return s.String()
}

// requestLog records the requests the gate served.
type requestLog struct {
	mu sync.Mutex
	// The fields below are guarded by mu.
	reqs       []loggedRequest
	beforePost func(*http.Request)
}

// setBeforePost sets a function called before the gate serves a POST.
func (l *requestLog) setBeforePost(f func(*http.Request)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.beforePost = f
}

type loggedRequest struct {
	method, path, encoding string
	chunked                bool
	probe                  bool
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lr := loggedRequest{
			method:   r.Method,
			path:     r.URL.Path,
			encoding: r.Header.Get("Content-Encoding"),
			chunked:  len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked",
			probe:    r.ContentLength == 4,
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, lr)
		before := l.beforePost
		l.mu.Unlock()
		if before != nil && r.Method == http.MethodPost {
			before(r)
		}
		h.ServeHTTP(w, r)
	})
}

// take returns the requests since the last call.
func (l *requestLog) take() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reqs
	l.reqs = nil
	return r
}

// testWriter sends the gate's logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// hashes converts hex strings to hashes, for comparisons.
func hashes(hs ...string) []plumbing.Hash {
	out := make([]plumbing.Hash, len(hs))
	for i, h := range hs {
		out[i] = plumbing.NewHash(h)
	}
	return out
}
