package upstream_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/gitgate/upstream"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/gittest"
)

// bothOps runs Fetch and Push and returns their errors.
func bothOps(t *testing.T, f *fixture) map[string]error {
	t.Helper()
	_, perr := f.up.Push(ctx(t), f.repo(t), []gitgate.Update{update("refs/heads/x", "", strings.Repeat("1", 40), false)}, nil, nil)
	return map[string]error{"Fetch": f.up.Fetch(ctx(t), f.repo(t)), "Push": perr}
}

func TestNoHostKey(t *testing.T) {
	f := newFixture(t, func(c *upstream.Config) { c.HostKey = "" })
	for op, err := range bothOps(t, f) {
		if !errors.Is(err, upstream.ErrNoHostKey) {
			t.Errorf("%s = %v, want ErrNoHostKey", op, err)
			continue
		}
		want := fmt.Sprintf("repo app: no host_key pinned, refusing to connect; add git-gate.repos.app.host_key (ssh-keyscan -p %d %s)", f.srv.Port, f.srv.Host)
		if err.Error() != want {
			t.Errorf("%s error = %q, want %q", op, err, want)
		}
	}
	if n := f.srv.AuthAttempts(); n != 0 {
		t.Errorf("%d authentication attempts without a pinned key, want 0", n)
	}
}

func TestWrongHostKey(t *testing.T) {
	other := gittest.Start(t) // its host key is not f's server's
	f := newFixture(t, func(c *upstream.Config) { c.HostKey = other.HostKey })
	for op, err := range bothOps(t, f) {
		if !errors.Is(err, upstream.ErrHostKeyMismatch) {
			t.Errorf("%s = %v, want ErrHostKeyMismatch", op, err)
		}
	}
	// The client stopped at the key exchange: it never offered its key,
	// so it sent nothing the server could use, and ran nothing.
	if n := f.srv.AuthAttempts(); n != 0 {
		t.Errorf("%d authentication attempts after a host key mismatch, want 0", n)
	}
	if got := f.srv.Execs(); len(got) != 0 {
		t.Errorf("execs after a host key mismatch: %q", got)
	}
}

func TestWrongClientKey(t *testing.T) {
	key, _ := gittest.NewKey(t) // never authorized
	f := newFixture(t, func(c *upstream.Config) { c.Key = key })
	for op, err := range bothOps(t, f) {
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("%s = %v, want an authentication failure", op, err)
		}
	}
	if got := f.srv.Execs(); len(got) != 0 {
		t.Errorf("execs with an unauthorized key: %q", got)
	}
}

// TestDial: the configured dialer makes every connection, and the host
// name is handed to it, not resolved.
func TestDial(t *testing.T) {
	var (
		mu    sync.Mutex
		addrs []string
	)
	var srvAddr string
	f := newFixture(t, func(c *upstream.Config) {
		c.Host = "git.example.invalid"
		c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			addrs = append(addrs, network+" "+addr)
			mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, srvAddr)
		}
	})
	srvAddr = f.srv.Addr
	gittest.Commit(t, f.bare, "main", "one", map[string]string{"README": "one\n"})
	f.fetch(t)
	want := fmt.Sprintf("tcp git.example.invalid:%d", f.srv.Port)
	if len(addrs) != 1 || addrs[0] != want {
		t.Errorf("dialled %q, want [%q]", addrs, want)
	}
}

func TestNew(t *testing.T) {
	s := gittest.Start(t)
	good := upstream.Config{Repo: "app", Host: "h", Path: "/a.git", HostKey: s.HostKey, Key: s.ClientKey}
	for _, tc := range []struct {
		name string
		mod  func(*upstream.Config)
		want string
	}{
		{"no-host", func(c *upstream.Config) { c.Host = "" }, "host and path are required"},
		{"bad-port", func(c *upstream.Config) { c.Port = 70000 }, "port 70000 out of range"},
		{"host-key-one-field", func(c *upstream.Config) { c.HostKey = "AAAA" }, `want "TYPE BASE64"`},
		{"host-key-bad-base64", func(c *upstream.Config) { c.HostKey = "ssh-ed25519 !!!" }, "decoding ssh-ed25519 key"},
		{"host-key-wrong-type", func(c *upstream.Config) {
			c.HostKey = "ssh-rsa " + strings.Fields(s.HostKey)[1]
		}, "key type is ssh-ed25519, not ssh-rsa"},
		{"no-key", func(c *upstream.Config) { c.Key = secret.Value{} }, "a private key is required"},
		{"bad-key", func(c *upstream.Config) { c.Key = secret.New("not a key") }, "parsing private key"},
		{"passphrase", func(c *upstream.Config) { c.Key = encryptedKey(t) }, "passphrase-protected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mod(&cfg)
			_, err := upstream.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tc.want)
			}
			if k := cfg.Key.Reveal(); k != "" && strings.Contains(err.Error(), k) {
				t.Errorf("New error %q holds the private key", err)
			}
		})
	}
	if _, err := upstream.New(good); err != nil {
		t.Errorf("New(good) = %v", err)
	}
}

func encryptedKey(t *testing.T) secret.Value {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	return secret.New(string(pem.EncodeToMemory(block)))
}
