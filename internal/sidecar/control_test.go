package sidecar

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

func tokensPolicy(t *testing.T, envs ...string) *policy.Policy {
	t.Helper()
	var routes, tokens []string
	for i, e := range envs {
		host := strings.ToLower(e) + ".test"
		slot := "EGRESS_TOKEN_" + string(rune('0'+i))
		routes = append(routes, `{"host": "`+host+`", "auth": {"scheme": "Bearer", "slot": "`+slot+`"}, "dlp": {"outbound": ["known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false}`)
		tokens = append(tokens, `{"slot": "`+slot+`", "env": "`+e+`", "hosts": ["`+host+`"]}`)
	}
	pol, err := policy.Parse([]byte(`{"version": 1, "bottle": "b", "log": 0, "routes": [` + strings.Join(routes, ",") + `], "tokens": [` + strings.Join(tokens, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// TestReplaceKeepsSecretsByCredential checks that a secret follows its
// host variable, not its slot number, when a replacement renumbers slots:
// otherwise X's token would be injected on Y's host.
func TestReplaceKeepsSecretsByCredential(t *testing.T) {
	var current atomic.Pointer[policy.Policy]
	current.Store(tokensPolicy(t, "XTOK", "YTOK"))
	var applied map[string]string
	apply := func(p *policy.Policy, s map[string]secret.Value) error {
		applied = map[string]string{}
		for k, v := range s {
			applied[k] = v.Reveal()
		}
		current.Store(p)
		return nil
	}
	svc := newControlService("b", map[string]secret.Value{"EGRESS_TOKEN_0": secret.New("x-secret"), "EGRESS_TOKEN_1": secret.New("y-secret")}, &current, apply, &control.Hub{})
	if _, err := svc.Replace(tokensPolicy(t, "YTOK", "XTOK"), nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"EGRESS_TOKEN_0": "y-secret", "EGRESS_TOKEN_1": "x-secret"}, applied); diff != "" {
		t.Errorf("secrets after renumbering (-want +got):\n%s", diff)
	}
	// A credential the sidecar never held must be handed.
	applied = nil
	if _, err := svc.Replace(tokensPolicy(t, "YTOK", "ZTOK"), nil); err == nil || !strings.Contains(err.Error(), "ZTOK") {
		t.Errorf("a replacement with an unheld credential = %v, want an error naming ZTOK", err)
	}
	if applied != nil || current.Load().Tokens[1].Env != "XTOK" {
		t.Errorf("a refused replacement changed the policy in force")
	}
	if _, err := svc.Replace(tokensPolicy(t, "YTOK", "ZTOK"), map[string]secret.Value{"EGRESS_TOKEN_1": secret.New("z-secret")}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"EGRESS_TOKEN_0": "y-secret", "EGRESS_TOKEN_1": "z-secret"}, applied); diff != "" {
		t.Errorf("secrets with one handed (-want +got):\n%s", diff)
	}
	if h := svc.Health(); h.Generation != 2 {
		t.Errorf("generation = %d, want 2", h.Generation)
	}
	other := tokensPolicy(t, "YTOK")
	other.Bottle = "other"
	if _, err := svc.Replace(other, nil); err == nil {
		t.Error("a policy of another bottle was applied")
	}
}
