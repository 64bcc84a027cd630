package launch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/deploykey"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// DeployKey is a key registered with a forge for one bottle: what
// revoking it needs, never the token itself (TokenEnv names the host
// variable that holds it).
type DeployKey struct {
	Repo     string `json:"repo"`
	API      string `json:"api"`
	Owner    string `json:"owner"`
	Name     string `json:"name"`
	ID       int64  `json:"id"`
	TokenEnv string `json:"token_env"`
	// CAFile is an extra CA trusted for the forge's TLS
	// (BOT_BOTTLE_UPSTREAM_CA at start).
	CAFile string `json:"ca_file,omitempty"`
}

// staticKeys reads the host key file of every static repository into its
// slot and returns the files, which a backend showing the host's files
// must hide.
func staticKeys(b *manifest.Bottle, pol *policy.Policy, secrets map[string]secret.Value) ([]string, error) {
	if pol.GitGate == nil {
		return nil, nil
	}
	var files []string
	for _, pr := range pol.GitGate.Repos {
		if pr.Key.Provider != manifest.KeyProviderStatic {
			continue
		}
		path := manifest.KeyPath(repoKey(b, pr.Name))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the key of repository %s: %w; fix git-gate.repos.%s.key.path", pr.Name, err, pr.Name)
		}
		secrets[pr.Key.Slot] = secret.New(string(data))
		files = append(files, path)
	}
	return files, nil
}

// MintDeployKeys registers a fresh key with the forge of every gitea
// repository and hands its private half to the sidecar's slot. Each key
// is recorded in the state folder as soon as it exists, so that a crash
// leaves it to cleanup instead of on the forge. Call it after Write.
func (l *Launch) MintDeployKeys(ctx context.Context, lookup func(string) (string, bool)) error {
	if l.Policy.GitGate == nil {
		return nil
	}
	for _, pr := range l.Policy.GitGate.Repos {
		if pr.Key.Provider != manifest.KeyProviderGitea {
			continue
		}
		mk := repoKey(l.bottle, pr.Name).V
		token, ok := lookup(mk.ForgeTokenEnv)
		if !ok || token == "" {
			return fmt.Errorf("repository %s: the host variable %s (its Gitea token) is not set; export it and start again", pr.Name, mk.ForgeTokenEnv)
		}
		owner, name, err := deploykey.OwnerRepo(pr.Path)
		if err != nil {
			return fmt.Errorf("repository %s: %w", pr.Name, err)
		}
		c, err := forgeClient(deploykey.APIFor(pr.Host, mk.APIURL), secret.New(token), l.upstreamCA)
		if err != nil {
			return err
		}
		pub, priv, err := deploykey.Generate()
		if err != nil {
			return fmt.Errorf("generating the deploy key of %s: %w", pr.Name, err)
		}
		id, err := c.Create(ctx, owner, name, "bot-bottle "+l.Spec.Slug, pub)
		if err != nil {
			return fmt.Errorf("registering the deploy key of %s: %w", pr.Name, err)
		}
		l.Record.DeployKeys = append(l.Record.DeployKeys, DeployKey{
			Repo: pr.Name, API: c.API, Owner: owner, Name: name, ID: id, TokenEnv: mk.ForgeTokenEnv, CAFile: l.upstreamCA,
		})
		l.Spec.Secrets[pr.Key.Slot] = priv
		if err := WriteRecord(l.Spec.StateDir, l.Record); err != nil {
			return err
		}
	}
	return nil
}

// repoKey returns the manifest's key entry of repository name: the
// policy keeps only its provider and slot, not the file or the token
// variable, which stay on the host.
func repoKey(b *manifest.Bottle, name string) manifest.Value[manifest.RepoKey] {
	for _, r := range b.GitGate.Repos {
		if r.Name == name {
			return r.Key
		}
	}
	return manifest.Value[manifest.RepoKey]{}
}

// RevokeDeployKeys deletes the bottle's deploy keys from their forges. A
// key the forge no longer has counts as revoked. Keys that could not be
// revoked stay in the record, for cleanup to try again, and the error
// names each of them: a key left on a forge must not go unnoticed.
func RevokeDeployKeys(ctx context.Context, home, slug string, lookup func(string) (string, bool)) error {
	unlock, err := lockState(home, slug)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := ReadRecord(home, slug)
	if err != nil || len(rec.DeployKeys) == 0 {
		return nil
	}
	var left []DeployKey
	var errs []error
	for _, k := range rec.DeployKeys {
		if err := revoke(ctx, k, lookup); err != nil {
			left = append(left, k)
			errs = append(errs, fmt.Errorf("deploy key %d of repository %s (%s/%s at %s) is still registered: %w", k.ID, k.Repo, k.Owner, k.Name, k.API, err))
		}
	}
	rec.DeployKeys = left
	if err := WriteRecord(StateDir(home, slug), rec); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func revoke(ctx context.Context, k DeployKey, lookup func(string) (string, bool)) error {
	token, ok := lookup(k.TokenEnv)
	if !ok || token == "" {
		return fmt.Errorf("%s is not set; export it and run 'bot-bottle cleanup'", k.TokenEnv)
	}
	c, err := forgeClient(k.API, secret.New(token), k.CAFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.Delete(ctx, k.Owner, k.Name, k.ID)
}

// forgeClient trusts the system roots and, when set, the operator's extra
// upstream CA (a forge behind a private CA, or a test's).
func forgeClient(api string, token secret.Value, caFile string) (*deploykey.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading the upstream CA: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the upstream CA %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	hc := &http.Client{
		Transport: tr, Timeout: 30 * time.Second,
		// The token goes to the API it was declared for, nowhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &deploykey.Client{API: api, Token: token, HTTP: hc}, nil
}

// RecordsWithDeployKeys returns the records in home's state folder that
// still list deploy keys.
func RecordsWithDeployKeys(home string) []Record {
	entries, _ := os.ReadDir(filepath.Join(home, "state"))
	var out []Record
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if rec, err := ReadRecord(home, e.Name()); err == nil && len(rec.DeployKeys) > 0 {
			out = append(out, rec)
		}
	}
	return out
}
