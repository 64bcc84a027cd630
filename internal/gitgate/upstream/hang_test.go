package upstream_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// idle is the IdleTimeout of the hang tests, and hang how long the hung
// upstream would take: a fetch or push must end near the first.
const (
	idle = time.Second
	hang = 30 * time.Second
)

func withIdle(c *upstream.Config) { c.IdleTimeout = idle }

// A fetch whose upstream stops sending while it packs (its pack-objects
// hook sleeps, with git's keep-alives off) fails once the connection is
// idle for IdleTimeout, saying so, instead of waiting for the upstream.
func TestFetchUpstreamHangs(t *testing.T) {
	f := newFixture(t, withIdle)
	gittest.Commit(t, f.bare, "main", "one", map[string]string{"README": "one\n"})
	f.srv.SetGitConfig("uploadpack.keepAlive=0", "uploadpack.packObjectsHook=sleep "+strconv.Itoa(int(hang.Seconds()))+"; exec")
	start := time.Now()
	err := f.up.Fetch(ctx(t), f.repo(t))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "sent and took nothing for 1s") {
		t.Fatalf("Fetch from a hung upstream = %v, want the idle cut named", err)
	}
	if took > hang/3 {
		t.Errorf("the hung fetch took %v, want about %v", took, idle)
	}
	// The upstream answers again: the next fetch works.
	f.srv.SetGitConfig()
	f.fetch(t)
}

// A push whose upstream hangs in its pre-receive hook (keep-alives off)
// fails the same way, within the bound.
func TestPushUpstreamHangs(t *testing.T) {
	f := newFixture(t, withIdle)
	base := gittest.Commit(t, f.bare, "main", "base", map[string]string{"README": "base\n"})
	f.fetch(t)
	next := f.work(t, "main", "next")
	hook := "#!/bin/sh\nsleep " + strconv.Itoa(int(hang.Seconds())) + "\n"
	if err := os.WriteFile(filepath.Join(f.bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	f.srv.SetGitConfig("receive.keepAlive=0")
	var progress bytes.Buffer
	start := time.Now()
	_, err := f.up.Push(ctx(t), f.repo(t), []gitgate.Update{update("refs/heads/main", base, next, false)}, nil, &progress)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "sent and took nothing for 1s") {
		t.Fatalf("Push to a hung upstream = %v, want the idle cut named\n%s", err, progress.String())
	}
	if took > hang/3 {
		t.Errorf("the hung push took %v, want about %v", took, idle)
	}
}

// An upstream whose git dies mid-fetch (its pack-objects hook kills it)
// or mid-push (its pre-receive hook does) closes the connection without
// a word: the failure says the upstream closed it, and during what.
func TestUpstreamClosesTheConnection(t *testing.T) {
	t.Run("fetch", func(t *testing.T) {
		f := newFixture(t)
		gittest.Commit(t, f.bare, "main", "one", map[string]string{"README": "one\n"})
		f.srv.SetGitConfig("uploadpack.packObjectsHook=kill -9 $PPID; exit 1; ")
		err := f.up.Fetch(ctx(t), f.repo(t))
		if err == nil || !strings.Contains(err.Error(), "the upstream closed the connection during") {
			t.Fatalf("Fetch from an upstream that died = %v, want it named", err)
		}
	})
	t.Run("push", func(t *testing.T) {
		f, base := seeded(t)
		next := f.work(t, "main", "next")
		if err := os.WriteFile(filepath.Join(f.bare, "hooks", "pre-receive"), []byte("#!/bin/sh\nkill -9 $PPID\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		var progress bytes.Buffer
		_, err := f.up.Push(ctx(t), f.repo(t), []gitgate.Update{update("refs/heads/main", base, next, false)}, nil, &progress)
		if err == nil || !strings.Contains(err.Error(), "the upstream closed the connection during") {
			t.Fatalf("Push to an upstream that died = %v, want it named\n%s", err, progress.String())
		}
		if got := refs(t, f.bare)["refs/heads/main"]; got != base {
			t.Errorf("upstream main = %s, want %s unchanged", got, base)
		}
	})
}
