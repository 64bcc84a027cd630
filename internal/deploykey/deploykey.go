// Package deploykey makes the per-bottle SSH keys the git-gate pushes
// with, and registers them as Gitea deploy keys on one repository for the
// life of a bottle.
//
// Security: the API token and the private key are secret.Values. Neither
// ever appears in an error, even when the server echoes the token back.
// It never keeps a key on disk: the private half goes to the sidecar.
package deploykey

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// keyComment is written inside the private key, never in Gitea.
const keyComment = "bot-bottle deploy key"

// Generate returns a fresh ed25519 key: the public key in authorized_keys
// form ("ssh-ed25519 AAAA...", no comment) and the private key as OpenSSH
// PEM, which ssh.ParsePrivateKey reads.
func Generate() (authorizedKey string, private secret.Value, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", secret.Value{}, fmt.Errorf("generating ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, keyComment)
	if err != nil {
		return "", secret.Value{}, fmt.Errorf("encoding private key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", secret.Value{}, fmt.Errorf("encoding public key: %w", err)
	}
	authorizedKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	return authorizedKey, secret.New(string(pem.EncodeToMemory(block))), nil
}

// APIFor returns the Gitea API base URL for a repository on repoHost:
// apiURL when set (without a trailing slash), else https://HOST/api/v1.
func APIFor(repoHost, apiURL string) string {
	if apiURL != "" {
		return strings.TrimRight(apiURL, "/")
	}
	return (&url.URL{Scheme: "https", Host: bracketIPv6(repoHost), Path: "/api/v1"}).String()
}

func bracketIPv6(host string) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]"
	}
	return host
}

// OwnerRepo splits a repository's URL path, such as "/owner/repo.git",
// into owner and repository name. The leading slash and the .git suffix
// are optional; a path of any other shape is an error, as Gitea has no
// nested groups.
func OwnerRepo(path string) (owner, repo string, err error) {
	p := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/"), ".git")
	owner, repo, ok := strings.Cut(p, "/")
	if !ok || !segment(owner) || !segment(repo) {
		return "", "", fmt.Errorf("repository path %q is not /OWNER/REPO.git", path)
	}
	return owner, repo, nil
}

func segment(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\?#% \t\r\n")
}
