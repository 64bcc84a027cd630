package egress

import (
	"context"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// clientEnv runs the proxy in front of two loopback TLS upstreams: api.test
// (records hits) and git.test (a real git smart-HTTP server, git
// http-backend behind CGI). Real clients (curl, git, node) reach them only
// through the proxy, trusting only the bottle CA.
type clientEnv struct {
	proxy  string
	caFile string
	up     *upstream
	git    *upstream
	repos  string
}

func newClientEnv(t *testing.T) *clientEnv {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is required for the egress client tests (apt-get install git)")
	}
	upCA, err := NewCA("upstream")
	if err != nil {
		t.Fatal(err)
	}
	api := newUpstream(t, upCA, "api.test", "open.test")

	repos := t.TempDir()
	run(t, repos, gitBin, "init", "-q", "--bare", "-b", "main", "repo.git")
	work := t.TempDir()
	run(t, work, gitBin, "init", "-q", "-b", "main", ".")
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("hello through the gate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, work, gitBin, "add", "README")
	run(t, work, gitBin, "-c", "user.name=t", "-c", "user.email=t@t.test", "commit", "-q", "-m", "first")
	run(t, work, gitBin, "push", "-q", filepath.Join(repos, "repo.git"), "main")
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + repos, "GIT_HTTP_EXPORT_ALL=1"},
	}
	gitHits := &upstream{}
	gitSrv := tlsServer(t, upCA, "git.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gitHits.mu.Lock()
		gitHits.hits = append(gitHits.hits, hit{Host: r.Host, Method: r.Method, Path: r.URL.RequestURI()})
		gitHits.mu.Unlock()
		backend.ServeHTTP(w, r)
	}), false)

	roots := rootsOf(upCA)
	pol := mustPolicy(t, testPolicy)
	ca := mustCA(t, "t")
	apiAddr := api.srv.Listener.Addr().String()
	p, err := New(Config{
		Policy:        pol,
		CA:            ca,
		Secrets:       map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(testSecret)},
		Resolve:       map[string]string{"api.test": apiAddr, "open.test": apiAddr, "git.test": gitSrv.Listener.Addr().String()},
		UpstreamRoots: roots,
	})
	if err != nil {
		t.Fatal(err)
	}
	proxy, caFile := frontForCurl(t, p, ca)
	return &clientEnv{proxy: proxy, caFile: caFile, up: api, git: gitHits, repos: repos}
}

func run(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	out, err := runErr(dir, nil, bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(dir string, env []string, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "HOME="+dir)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestCurlThroughProxy(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required for the egress client tests (apt-get install curl)")
	}
	e := newClientEnv(t)
	for _, http2 := range []string{"--http1.1", "--http2"} {
		out := run(t, t.TempDir(), curl, "-sS", http2, "--proxy", e.proxy, "--cacert", e.caFile,
			"-H", "Authorization: Bearer agent-placeholder", "https://api.test/v1/models")
		if out != "hello from api.test /v1/models" {
			t.Errorf("curl %s = %q", http2, out)
		}
	}
	for _, h := range e.up.Hits() {
		if h.Auth != "Bearer "+testSecret {
			t.Errorf("upstream saw Authorization %q, want the injected credential", h.Auth)
		}
	}
	// A refused host: curl reports the proxy's 403 and nothing arrives.
	before := len(e.up.Hits())
	out, err := runErr(t.TempDir(), nil, curl, "-sS", "--proxy", e.proxy, "--cacert", e.caFile, "https://other.test/")
	if err == nil || !strings.Contains(out, "403") {
		t.Errorf("curl to an unlisted host = %v %q, want a 403 from the proxy", err, out)
	}
	// A refused path: the body names the rule.
	out = run(t, t.TempDir(), curl, "-sS", "-i", "--proxy", e.proxy, "--cacert", e.caFile, "https://api.test/admin")
	if !strings.Contains(out, "403") || !strings.Contains(strings.ToLower(out), "x-bot-bottle-block: path-not-allowed") {
		t.Errorf("curl to a refused path = %q", out)
	}
	if len(e.up.Hits()) != before {
		t.Errorf("refused requests reached the upstream")
	}
	// Without the proxy, curl cannot even resolve the fake host.
	if out, err := runErr(t.TempDir(), nil, curl, "-sS", "--noproxy", "*", "--max-time", "5", "https://api.test/v1/x"); err == nil {
		t.Errorf("curl without the proxy reached api.test: %q", out)
	}
}

func TestGitThroughProxy(t *testing.T) {
	e := newClientEnv(t)
	dir := t.TempDir()
	gitEnv := []string{"GIT_SSL_CAINFO=" + e.caFile, "https_proxy=" + e.proxy, "HTTPS_PROXY=" + e.proxy}
	if out, err := runErr(dir, gitEnv, "git", "clone", "-q", "https://git.test/repo.git", "clone"); err != nil {
		t.Fatalf("git clone through the proxy: %v\n%s", err, out)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "clone", "README")); err != nil || string(data) != "hello through the gate\n" {
		t.Fatalf("cloned README = %q, %v", data, err)
	}
	// Push over HTTPS is refused even though the server would accept it.
	clone := filepath.Join(dir, "clone")
	run(t, clone, "git", "-c", "user.name=a", "-c", "user.email=a@a.test", "commit", "-q", "--allow-empty", "-m", "agent")
	out, err := runErr(clone, gitEnv, "git", "push", "-q", "origin", "main")
	if err == nil || !strings.Contains(out, "403") {
		t.Errorf("git push through the proxy = %v %q, want refused with 403", err, out)
	}
	for _, h := range e.git.Hits() {
		if strings.Contains(h.Path, "receive-pack") {
			t.Errorf("the git server saw a push request: %s %s", h.Method, h.Path)
		}
	}
	refs := run(t, filepath.Join(e.repos, "repo.git"), "git", "rev-list", "--count", "main")
	if strings.TrimSpace(refs) != "1" {
		t.Errorf("upstream has %s commits after a refused push, want 1", refs)
	}
}

func TestNodeThroughProxy(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the issue asks for the node client only where it is present")
	}
	e := newClientEnv(t)
	script := `
const http = require('http'), tls = require('tls');
const proxy = new URL(process.env.PROXY);
const req = http.request({host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: 'api.test:443'});
req.on('connect', (res, socket) => {
  if (res.statusCode !== 200) { console.log('connect', res.statusCode); process.exit(2); }
  const s = tls.connect({socket, servername: 'api.test'}, () => {
    s.write('GET /v1/node HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n');
  });
  let out = ''; s.on('data', d => out += d); s.on('end', () => { console.log(out.split('\r\n\r\n')[1]); });
  s.on('error', e => { console.log('tls error', e.message); process.exit(3); });
});
req.end();`
	out, err := runErr(t.TempDir(), []string{"NODE_EXTRA_CA_CERTS=" + e.caFile, "PROXY=" + e.proxy}, node, "-e", script)
	if err != nil || strings.TrimSpace(out) != "hello from api.test /v1/node" {
		t.Fatalf("node through the proxy = %v %q", err, out)
	}
}
