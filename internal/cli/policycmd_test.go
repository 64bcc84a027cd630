package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// TestNewSecrets checks which credentials apply reads from the host: only
// those the sidecar does not hold, and never one the running bottle could
// read for itself.
func TestNewSecrets(t *testing.T) {
	hostFile := filepath.Join(t.TempDir(), "credential")
	if err := os.WriteFile(hostFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OLD": "old-value", "NEW": "new-value", "AS_FILE": hostFile}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tokens := func(envs ...string) *policy.Policy {
		p := &policy.Policy{}
		for i, e := range envs {
			p.Tokens = append(p.Tokens, policy.TokenSlot{Slot: policy.TokenSlotPrefix + string(rune('0'+i)), Env: e, Hosts: []string{"h.example"}})
		}
		return p
	}
	repo := policy.Repo{Name: "app", URL: "ssh://git@git.example/app.git", Key: policy.RepoKey{Provider: "static", Slot: "GIT_KEY_0"}}
	withRepo := func(r policy.Repo) *policy.Policy {
		return &policy.Policy{GitGate: &policy.GitGate{Repos: []policy.Repo{r}}}
	}
	moved := repo
	moved.URL = "ssh://git@elsewhere.example/app.git"
	narrowed := repo
	narrowed.Branches = []string{"bot-*"}
	tests := []struct {
		name     string
		cur, pol *policy.Policy
		// want maps slot to value.
		want    map[string]string
		wantErr string
	}{
		{"held-token-kept", tokens("OLD", "UNSET"), tokens("UNSET", "OLD"), map[string]string{}, ""},
		{"new-token-read", tokens("OLD"), tokens("OLD", "NEW"), map[string]string{"EGRESS_TOKEN_1": "new-value"}, ""},
		{"new-token-unset", tokens(), tokens("UNSET"), nil, "UNSET (for h.example)"},
		{"new-token-names-a-host-file", tokens(), tokens("AS_FILE"), nil, "the host variables AS_FILE name host files"},
		{"held-token-names-a-host-file", tokens("AS_FILE"), tokens("AS_FILE"), map[string]string{}, ""},
		{"repo-kept", withRepo(repo), withRepo(narrowed), map[string]string{}, ""},
		{"repo-removed", withRepo(repo), &policy.Policy{}, map[string]string{}, ""},
		{"repo-new", &policy.Policy{}, withRepo(repo), nil, "repository app needs a git key the bottle does not hold"},
		{"repo-moved", withRepo(repo), withRepo(moved), nil, "repository app needs a git key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newSecrets(tt.cur, tt.pol, lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("newSecrets = %v, %v; want an error holding %q", got, err, tt.wantErr)
				}
				for _, v := range env {
					if strings.Contains(err.Error(), v) {
						t.Errorf("the error quotes a host value: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			revealed := map[string]string{}
			for k, v := range got {
				revealed[k] = v.Reveal()
			}
			if d := cmp.Diff(tt.want, revealed); d != "" {
				t.Errorf("newSecrets slots (-want +got):\n%s", d)
			}
		})
	}
}
