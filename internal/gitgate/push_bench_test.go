package gitgate_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/pushcheck"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// BenchmarkPush pushes the same 200 commits (about 5 MB of source-like
// text) into an empty upstream over SSH, straight with git and through
// the gate (quarantine, gitleaks over every added line, policy, forward
// over SSH). bench/gitgate/run.sh compares the two.
func BenchmarkPush(b *testing.B) {
	srv := gittest.Start(b)
	work := history(b, 200, 25<<10)
	keyFile := filepath.Join(b.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(srv.ClientKey.Reveal()), 0o600); err != nil {
		b.Fatal(err)
	}
	known := filepath.Join(b.TempDir(), "known_hosts")
	if err := os.WriteFile(known, []byte(fmt.Sprintf("[%s]:%d %s\n", srv.Host, srv.Port, srv.HostKey)), 0o600); err != nil {
		b.Fatal(err)
	}
	sshCmd := fmt.Sprintf("ssh -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes", keyFile, known)
	det, err := pushcheck.NewDetector()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	fresh := func() string {
		n++
		name := fmt.Sprintf("bench/r%d.git", n)
		srv.NewBare(name)
		return name
	}

	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			name := fresh()
			b.StartTimer()
			push(b, work, []string{"GIT_SSH_COMMAND=" + sshCmd}, srv.URL(name))
		}
	})
	b.Run("gate", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			name := fresh()
			up, err := upstream.New(upstream.Config{Repo: "app", Host: srv.Host, Port: srv.Port, Path: srv.Path(name), HostKey: srv.HostKey, Key: srv.ClientKey})
			if err != nil {
				b.Fatal(err)
			}
			chk, err := pushcheck.New(pushcheck.Config{ProtectedPaths: []string{".github/workflows/**"}, Detector: det})
			if err != nil {
				b.Fatal(err)
			}
			gate, err := gitgate.New(gitgate.Config{Dir: b.TempDir(), Repos: []gitgate.Repo{{Name: "app", Upstream: up, Checker: chk}}})
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(gate)
			b.StartTimer()
			push(b, work, nil, hs.URL+"/app.git")
			b.StopTimer()
			hs.Close()
			if got := gittest.Git(b, srv.Dir(name), "rev-parse", "refs/heads/feature"); got != gittest.Git(b, work, "rev-parse", "HEAD") {
				b.Fatalf("upstream feature is %s", got)
			}
			b.StartTimer()
		}
	})
}

func push(b *testing.B, work string, env []string, url string) {
	b.Helper()
	cmd := exec.Command("git", "push", "-q", url, "HEAD:refs/heads/feature")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("push to %s: %v\n%s", url, err, out)
	}
}

// history makes a repository of commits commits, each adding a file of
// about size bytes of Go-like source, deterministic and free of secrets.
func history(b *testing.B, commits, size int) string {
	b.Helper()
	dir := b.TempDir()
	gittest.Git(b, "", "init", "-q", "--initial-branch=main", dir)
	for i := range commits {
		var sb strings.Builder
		fmt.Fprintf(&sb, "package gen%d\n\n", i)
		for j := 0; sb.Len() < size; j++ {
			fmt.Fprintf(&sb, "// Sum%d_%d adds the values of series %d, step %d.\nfunc Sum%d_%d(xs []int) (total int) {\n\tfor _, x := range xs {\n\t\ttotal += x * %d\n\t}\n\treturn total\n}\n\n", i, j, i, j, i, j, (i*31+j)%97)
		}
		gittest.Commit(b, filepath.Join(dir, ".git"), "main", fmt.Sprintf("gen %d", i), map[string]string{fmt.Sprintf("gen/f%03d.go", i): sb.String()})
	}
	gittest.Git(b, dir, "reset", "-q", "--hard", "main")
	return dir
}
