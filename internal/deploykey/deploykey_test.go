package deploykey_test

import (
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bot-bottle/bot-bottle/internal/deploykey"
)

func TestGenerate(t *testing.T) {
	pub, priv, err := deploykey.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if !strings.HasPrefix(priv.Reveal(), "-----BEGIN OPENSSH PRIVATE KEY-----\n") {
		t.Errorf("private key is not OpenSSH PEM")
	}
	signer, err := ssh.ParsePrivateKey([]byte(priv.Reveal()))
	if err != nil {
		t.Fatalf("ssh.ParsePrivateKey: %v", err)
	}
	parsed, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil || comment != "" || len(rest) != 0 {
		t.Fatalf("ParseAuthorizedKey(%q) = comment %q, rest %q, %v", pub, comment, rest, err)
	}
	if parsed.Type() != ssh.KeyAlgoED25519 || string(parsed.Marshal()) != string(signer.PublicKey().Marshal()) {
		t.Fatalf("authorized key %q is not the private key's", pub)
	}
	data := []byte("challenge")
	sig, err := signer.Sign(rand.Reader, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(data, sig); err != nil {
		t.Errorf("signature by the private key does not verify with the authorized key: %v", err)
	}

	pub2, _, err := deploykey.Generate()
	if err != nil || pub2 == pub {
		t.Errorf("a second Generate = %q, %v; want a different key", pub2, err)
	}
}

func TestAPIFor(t *testing.T) {
	for _, tc := range []struct{ host, api, want string }{
		{"gitea.example", "", "https://gitea.example/api/v1"},
		{"gitea.example", "https://git.example/gitea/api/v1/", "https://git.example/gitea/api/v1"},
		{"::1", "", "https://[::1]/api/v1"},
	} {
		if got := deploykey.APIFor(tc.host, tc.api); got != tc.want {
			t.Errorf("APIFor(%q, %q) = %q, want %q", tc.host, tc.api, got, tc.want)
		}
	}
}

func TestOwnerRepo(t *testing.T) {
	for _, tc := range []struct{ path, owner, repo string }{
		{"/owner/repo.git", "owner", "repo"},
		{"/owner/repo", "owner", "repo"},
		{"owner/repo.git", "owner", "repo"},
		{"/owner/repo.git/", "owner", "repo"},
		{"/my-org/my.repo.git", "my-org", "my.repo"},
	} {
		owner, repo, err := deploykey.OwnerRepo(tc.path)
		if err != nil || owner != tc.owner || repo != tc.repo {
			t.Errorf("OwnerRepo(%q) = %q, %q, %v; want %q, %q", tc.path, owner, repo, err, tc.owner, tc.repo)
		}
	}
	for _, path := range []string{"", "/", "/owner", "/owner/", "/a/b/c.git", "/../repo.git", "/owner/..", "/own er/repo", "/owner/re%2fpo"} {
		if owner, repo, err := deploykey.OwnerRepo(path); err == nil {
			t.Errorf("OwnerRepo(%q) = %q, %q; want an error", path, owner, repo)
		}
	}
}
