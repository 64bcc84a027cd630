// Package upstream connects the git-gate to a repository's real upstream
// over SSH: it refreshes the gate's mirror from it and forwards accepted
// pushes to it, with a deploy key the agent never sees.
//
// Security: it never connects to a host whose key is not the pinned one
// (no trust on first use, no known_hosts, no ssh_config, no agent, no
// proxy from the environment), never overwrites a ref that moved
// upstream unless the push was forced, and never drops a push option.
//
// Why not go-git's ssh transport or Remote.Push: its dialer cannot be
// replaced (the sidecar must dial through its address pins), it reads
// ~/.ssh/config and ALL_PROXY, it sends push options as a map (order
// lost, "ci.skip" sent as "ci.skip=") and silently drops them when not
// advertised, it offers no compare-and-swap on the upstream's current
// value, and it turns the first refused ref into the error for all. So
// this package speaks the protocol itself over x/crypto/ssh, with go-git's
// building blocks: advertisement decoding, pkt-lines, side-band, the pack
// encoder and parser, and revlist.
package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Errors callers can branch on with errors.Is.
var (
	// ErrNoHostKey: no host key is pinned, so nothing is dialled.
	ErrNoHostKey = errors.New("no host_key pinned")
	// ErrHostKeyMismatch: the upstream presented another key than the
	// pinned one; the connection ended before authenticating.
	ErrHostKeyMismatch = errors.New("host key mismatch")
	// ErrStale: a ref changed upstream since the mirror was refreshed,
	// and the update was not forced.
	ErrStale = errors.New("changed upstream since the gate's last fetch")
)

// DefaultTimeout bounds dialling and the SSH handshake when
// Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config describes one upstream repository.
type Config struct {
	// Repo is the repository's name in the manifest, for messages.
	Repo string
	// User defaults to "git"; Port to 22.
	User string
	Host string
	Port int
	// Path is the repository's path on the host, such as
	// "/owner/repo.git", sent as the argument of git-upload-pack.
	Path string
	// HostKey is the pinned host key, "TYPE BASE64" as in known_hosts
	// after the host field. Empty refuses every connection.
	HostKey string
	// Key is the PEM or OpenSSH private key to authenticate with.
	Key secret.Value
	// Dial opens the TCP connection; nil uses net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds dialling and the SSH handshake, not the transfer,
	// which the caller's context bounds; zero means DefaultTimeout.
	Timeout time.Duration
	// IdleTimeout bounds how long a connection may carry nothing either
	// way once it is up: a hung upstream fails the agent's fetch or push
	// then, never holds it forever. git's own keep-alives (every 5 s
	// while it packs or runs hooks) keep a slow upstream within it.
	// Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// DefaultIdleTimeout is Config.IdleTimeout's default.
const DefaultIdleTimeout = time.Minute

// SSH is a repository's upstream reached over SSH. It is safe for
// concurrent use; each call opens its own connection.
type SSH struct {
	cfg     Config
	hostKey ssh.PublicKey // nil when none is pinned
	signer  ssh.Signer
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ gitgate.Upstream = (*SSH)(nil)

// New checks cfg and returns its upstream. An empty HostKey is accepted
// here, and every Fetch and Push then fails saying how to pin one.
func New(cfg Config) (*SSH, error) {
	if cfg.Host == "" || cfg.Path == "" {
		return nil, fmt.Errorf("upstream %q: host and path are required", cfg.Repo)
	}
	if cfg.User == "" {
		cfg.User = "git"
	}
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("upstream %q: port %d out of range", cfg.Repo, cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	u := &SSH{cfg: cfg, dial: cfg.Dial}
	if u.dial == nil {
		u.dial = (&net.Dialer{}).DialContext
	}
	if cfg.HostKey != "" {
		k, err := parseHostKey(cfg.HostKey)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: host_key: %w", cfg.Repo, err)
		}
		u.hostKey = k
	}
	if cfg.Key.IsZero() {
		return nil, fmt.Errorf("upstream %q: a private key is required", cfg.Repo)
	}
	signer, err := ssh.ParsePrivateKey([]byte(cfg.Key.Reveal()))
	if _, ok := errors.AsType[*ssh.PassphraseMissingError](err); ok {
		return nil, fmt.Errorf("upstream %q: the private key is passphrase-protected; use an unencrypted deploy key", cfg.Repo)
	}
	if err != nil {
		// x/crypto/ssh's parse errors name the problem, never key bytes.
		return nil, fmt.Errorf("upstream %q: parsing private key: %w", cfg.Repo, err)
	}
	u.signer = signer
	return u, nil
}

// parseHostKey parses "TYPE BASE64 [comment]".
func parseHostKey(s string) (ssh.PublicKey, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return nil, errors.New(`want "TYPE BASE64", as in known_hosts after the host field`)
	}
	raw, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return nil, fmt.Errorf("decoding %s key: %w", f[0], err)
	}
	k, err := ssh.ParsePublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing %s key: %w", f[0], err)
	}
	if k.Type() != f[0] {
		return nil, fmt.Errorf("key type is %s, not %s", k.Type(), f[0])
	}
	return k, nil
}

// clientConfig authenticates with the deploy key and accepts only the
// pinned host key.
func (u *SSH) clientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            u.cfg.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(u.signer)},
		HostKeyCallback: u.checkHostKey,
		// Ask only for the pinned key's algorithms, so a host holding
		// several keys presents the pinned one rather than fail.
		HostKeyAlgorithms: hostKeyAlgorithms(u.hostKey),
	}
}

// checkHostKey is ssh.FixedHostKey with an error that says what to do.
func (u *SSH) checkHostKey(_ string, _ net.Addr, key ssh.PublicKey) error {
	if bytes.Equal(key.Marshal(), u.hostKey.Marshal()) {
		return nil
	}
	return fmt.Errorf("%w: %s presented %s %s, pinned is %s; if the upstream really changed its key, update git-gate.repos.%s.host_key",
		ErrHostKeyMismatch, u.cfg.Host, key.Type(), ssh.FingerprintSHA256(key),
		ssh.FingerprintSHA256(u.hostKey), u.cfg.Repo)
}

func hostKeyAlgorithms(k ssh.PublicKey) []string {
	if k.Type() == ssh.KeyAlgoRSA {
		// An RSA key signs with SHA-2; plain ssh-rsa (SHA-1) is left out.
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{k.Type()}
}

// noHostKey is the error for a repository without a pinned key.
func (u *SSH) noHostKey() error {
	return fmt.Errorf("%w, refusing to connect; add git-gate.repos.%s.host_key (ssh-keyscan -p %d %s)",
		ErrNoHostKey, u.cfg.Repo, u.cfg.Port, u.cfg.Host)
}
