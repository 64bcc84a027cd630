package control_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

const pol1 = `{"version": 1, "bottle": "b", "log": 0, "routes": [{"host": "a.test", "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false}], "tokens": []}`

// fakeService records what the handler asks of it.
type fakeService struct {
	pol      *policy.Policy
	replaced map[string]string
	hub      control.Hub
	board    *supervise.Board
}

func (f *fakeService) Proposals() []supervise.Proposal { return f.board.Proposals() }
func (f *fakeService) Decide(id string, v supervise.Verdict) (supervise.Proposal, error) {
	return f.board.Decide(id, v)
}

func (f *fakeService) Health() control.Health {
	return control.Health{Bottle: "b", Services: map[string]string{"egress": "up"}}
}
func (f *fakeService) Policy() *policy.Policy { return f.pol }
func (f *fakeService) Replace(pol *policy.Policy, s map[string]secret.Value) (control.Applied, error) {
	if len(pol.Routes) == 0 {
		return control.Applied{}, errors.New("refused: no route")
	}
	f.pol = pol
	f.replaced = map[string]string{}
	for k, v := range s {
		f.replaced[k] = v.Reveal()
	}
	return control.Applied{Generation: 1, Routes: len(pol.Routes)}, nil
}
func (f *fakeService) Events(ctx context.Context, tail int, follow bool, fn func(control.Event) error) error {
	return f.hub.Events(ctx, tail, follow, fn)
}

func serve(t *testing.T, token string) (*fakeService, func(tok string) *control.Client) {
	t.Helper()
	pol, err := policy.Parse([]byte(pol1))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeService{pol: pol}
	f.board = supervise.NewBoard(supervise.BoardConfig{Bottle: "b", Policy: func() *policy.Policy { return f.pol }, Reapply: func() error { return nil }})
	srv := httptest.NewServer(control.Handler(secret.New(token), f))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	return f, func(tok string) *control.Client {
		c := control.NewClient(func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}, secret.New(tok))
		t.Cleanup(c.Close)
		return c
	}
}

func TestTokenRequired(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	_, client := serve(t, token)
	ctx := context.Background()
	for _, tok := range []string{"", "wrong", token[:len(token)-1], token + "x"} {
		if _, err := client(tok).Health(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("token %q: %v, want 401", tok, err)
		}
	}
	h, err := client(token).Health(ctx)
	if err != nil || h.Services["egress"] != "up" {
		t.Fatalf("health with the token = %+v, %v", h, err)
	}
}

func TestEmptyTokenRefusesEverything(t *testing.T) {
	_, client := serve(t, "")
	if _, err := client("").Health(context.Background()); err == nil {
		t.Fatal("a handler without a token answered")
	}
}

func TestReplaceCarriesSecretsAndErrors(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	f, client := serve(t, token)
	c := client(token)
	ctx := context.Background()
	pol, _ := policy.Parse([]byte(strings.Replace(pol1, "a.test", "b.test", 1)))
	a, err := c.Replace(ctx, pol, map[string]secret.Value{"EGRESS_TOKEN_0": secret.New("v")})
	if err != nil || a.Routes != 1 {
		t.Fatalf("replace = %+v, %v", a, err)
	}
	if diff := cmp.Diff(map[string]string{"EGRESS_TOKEN_0": "v"}, f.replaced); diff != "" {
		t.Errorf("secrets handed (-want +got):\n%s", diff)
	}
	got, err := c.Policy(ctx)
	if err != nil || got.Routes[0].Host != "b.test" {
		t.Fatalf("policy after replace = %+v, %v", got, err)
	}
	empty, _ := policy.Parse([]byte(`{"version": 1, "bottle": "b", "log": 0, "routes": [], "tokens": []}`))
	if _, err := c.Replace(ctx, empty, nil); err == nil || !strings.Contains(err.Error(), "refused: no route") {
		t.Errorf("a refused replace = %v", err)
	}
}

func TestEventsTailAndFollow(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	f, client := serve(t, token)
	c := client(token)
	for _, h := range []string{"one.test", "two.test", "three.test"} {
		f.hub.Publish(control.Event{Host: h})
	}
	var hosts []string
	if err := c.Events(context.Background(), 2, false, func(ev control.Event) error { hosts = append(hosts, ev.Host); return nil }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"two.test", "three.test"}, hosts); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		_ = c.Events(ctx, 0, true, func(ev control.Event) error {
			select {
			case got <- ev.Host:
			default: // the test has its event; more may come
			}
			return nil
		})
	}()
	// Publish until the follower is subscribed and sees one.
	for {
		f.hub.Publish(control.Event{Host: "live.test"})
		select {
		case h := <-got:
			if h != "live.test" {
				t.Fatalf("followed %q", h)
			}
			return
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the follow saw nothing")
		}
	}
}

func TestNewTokenIsFresh(t *testing.T) {
	a, _ := control.NewToken()
	b, _ := control.NewToken()
	if len(a.Reveal()) != 64 || a.Equal(b) {
		t.Fatalf("tokens %d chars, equal=%v", len(a.Reveal()), a.Equal(b))
	}
}

var _ http.Handler = control.Handler(secret.New("x"), &fakeService{})

func TestProposals(t *testing.T) {
	f, client := serve(t, "tok")
	c := client("tok")
	defer c.Close()
	ctx := context.Background()
	p, err := f.board.RequestRoute(ctx, supervise.RouteRequest{Host: "new.test", Methods: []string{"GET"}, Reason: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.Proposals(ctx)
	if err != nil || len(ps) != 1 || ps[0].ID != p.ID || ps[0].Status != supervise.StatusPending {
		t.Fatalf("Proposals = %+v, %v", ps, err)
	}
	if _, err := c.Decide(ctx, "p-00000000", supervise.Verdict{Approve: true}); !errors.Is(err, supervise.ErrNotFound) {
		t.Errorf("Decide on an unknown id = %v, want ErrNotFound", err)
	}
	if _, err := c.Decide(ctx, p.ID, supervise.Verdict{}); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Errorf("a rejection without a reason = %v", err)
	}
	got, err := c.Decide(ctx, p.ID, supervise.Verdict{Approve: true, By: "op@h", Lifetime: supervise.Lifetime{Uses: 2}})
	if err != nil || got.Status != supervise.StatusApproved || got.Decision.By != "op@h" {
		t.Fatalf("Decide = %+v, %v", got, err)
	}
	// Without the token nothing is listed or decided.
	bad := client("wrong")
	defer bad.Close()
	if _, err := bad.Proposals(ctx); err == nil {
		t.Error("proposals listed without the token")
	}
	if _, err := bad.Decide(ctx, p.ID, supervise.Verdict{Approve: true}); err == nil {
		t.Error("a proposal decided without the token")
	}
}
