package lifecycle_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

const operatorPolicy = `{"version":1,"bottle":"dev","log":0,"tokens":[],"routes":[{"host":"api.example.test","matches":[{"methods":["GET"]}],"dlp":{"outbound":[],"inbound":[],"on_match":"block"},"git_fetch":false}]}`

// TestOperator: the operator lists the proposals of every running bottle
// over its control channel, named by slug, and decides one in the bottle
// that holds it; the grant is then in that bottle's policy.
func TestOperator(t *testing.T) {
	m, fb := newManager(t)
	ctx := context.Background()
	for _, slug := range []string{"dev-00001", "dev-00002"} {
		dir := launch.StateDir(m.Home, slug)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := launch.WriteRecord(dir, launch.Record{Slug: slug, Backend: "fake", Cwd: "/work"}); err != nil {
			t.Fatal(err)
		}
		pf := filepath.Join(dir, "policy.json")
		if err := os.WriteFile(pf, []byte(operatorPolicy), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "control.token"), []byte("tok-"+slug), 0o600); err != nil {
			t.Fatal(err)
		}
		spec := &backend.Spec{Slug: slug, StateDir: dir, Command: []string{"sleep"}, OwnerPID: os.Getpid(), PolicyFile: pf, ControlToken: secret.New("tok-" + slug)}
		if err := fb.Start(ctx, spec, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fb.Stop(context.Background(), slug) })
	}
	p, err := fb.Board("dev-00002").RequestRoute(ctx, supervise.RouteRequest{Host: "new.example.test", Methods: []string{"GET"}, Reason: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	op := m.Operator()
	ps, err := op.List(ctx)
	if err != nil || len(ps) != 1 || ps[0].ID != p.ID || ps[0].Bottle != "dev-00002" {
		t.Fatalf("List = %+v, %v; want %s in dev-00002", ps, err, p.ID)
	}
	if _, err := op.Decide(ctx, "p-00000000", supervise.Verdict{Approve: true}); !errors.Is(err, supervise.ErrNotFound) {
		t.Errorf("Decide on an unknown id = %v", err)
	}
	got, err := op.Decide(ctx, p.ID, supervise.Verdict{Approve: true, By: "op@host"})
	if err != nil || got.Status != supervise.StatusApproved || got.Bottle != "dev-00002" {
		t.Fatalf("Decide = %+v, %v", got, err)
	}
	if _, ok := fb.CurrentPolicy("dev-00002").Lookup("new.example.test"); !ok {
		t.Error("the approved route is not in the bottle's policy")
	}
	if _, ok := fb.CurrentPolicy("dev-00001").Lookup("new.example.test"); ok {
		t.Error("the approved route went to another bottle")
	}
	// A wrong token on the host side reaches nothing.
	if err := os.WriteFile(filepath.Join(launch.StateDir(m.Home, "dev-00002"), "control.token"), []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := op.List(ctx); err == nil {
		t.Error("List with a wrong control token reported no error")
	}
}
