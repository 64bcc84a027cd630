package sidecar

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/egress"
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

// TestSighupKeepsReplacedPolicy checks that a bottle's sidecar, whose
// loader holds the launch policy, does not put it back on SIGHUP over a
// policy replaced through the control channel.
func TestSighupKeepsReplacedPolicy(t *testing.T) {
	dir := t.TempDir()
	token := secret.New(strings.Repeat("t", 64))
	launchPol := tokensPolicy(t, "XTOK")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	sock := filepath.Join(dir, "c.sock")
	go func() {
		done <- Run(ctx, Config{
			Listen: "127.0.0.1:0", CADir: filepath.Join(dir, "ca"), Control: "unix:" + sock, ControlToken: token,
			Load: func() (*policy.Policy, map[string]secret.Value, error) {
				return launchPol, map[string]secret.Value{"EGRESS_TOKEN_0": secret.New("x")}, nil
			},
			Ready: func(net.Addr, *egress.CA, *policy.Policy) { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	c := control.NewClient(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}, token)
	defer c.Close()
	if _, err := c.Replace(ctx, tokensPolicy(t, "XTOK", "YTOK"), map[string]secret.Value{"EGRESS_TOKEN_1": secret.New("y")}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	got, err := c.Policy(ctx)
	if err != nil || len(got.Routes) != 2 {
		t.Fatalf("after SIGHUP the policy has %d route(s) (%v), want the replaced 2", len(got.Routes), err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
