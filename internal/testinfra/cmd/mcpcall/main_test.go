package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
	"github.com/bot-bottle/bot-bottle/internal/supervise/mcpsrv"
)

// agent is a supervise.Agent that approves every route after delay.
type agent struct{ delay time.Duration }

func (a agent) RequestRoute(_ context.Context, req supervise.RouteRequest) (supervise.Proposal, error) {
	if req.Host == "refused.example" {
		return supervise.Proposal{}, errors.New("refused.example is not allowed: ask the operator to add it to the manifest")
	}
	return supervise.Proposal{ID: "p1", Status: supervise.StatusPending, Route: &req}, nil
}

func (a agent) Wait(ctx context.Context, id string, _ time.Duration, _ func(time.Duration)) (supervise.Proposal, error) {
	select {
	case <-time.After(a.delay):
	case <-ctx.Done():
		return supervise.Proposal{}, ctx.Err()
	}
	return supervise.Proposal{ID: id, Status: supervise.StatusApproved, Route: &supervise.RouteRequest{Host: "pypi.org"},
		Decision: &supervise.Decision{Status: supervise.StatusApproved, Notes: "ok"}}, nil
}

func (agent) Routes() supervise.Routes {
	return supervise.Routes{Bottle: "b1", Routes: []supervise.RouteView{{Host: "api.github.com"}}}
}

func (agent) RecentBlocks() []supervise.Block { return nil }

func TestDirectClientIgnoresProxyEnv(t *testing.T) {
	// Loopback is never proxied by net/http, so the end-to-end runs
	// below cannot show this; check the transport itself.
	tr, ok := directClient().Transport.(*http.Transport)
	if !ok || tr.Proxy != nil {
		t.Errorf("directClient's transport %T has a Proxy func; mcpcall must connect directly", directClient().Transport)
	}
}

func TestMCPCall(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mcpcall")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build with CGO_ENABLED=0: %v\n%s", err, out)
	}
	ts := httptest.NewServer(mcpsrv.Handler(agent{delay: 300 * time.Millisecond},
		mcpsrv.Options{WaitMax: 10 * time.Second, ProgressEvery: 50 * time.Millisecond}))
	defer ts.Close()

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    map[string]any
		wantStderr string
	}{
		{
			name:     "list_routes",
			args:     []string{ts.URL, "list_routes"},
			wantOut:  map[string]any{"bottle": "b1", "routes": []any{map[string]any{"host": "api.github.com"}}, "grants": []any{}},
			wantCode: 0,
		},
		{
			name: "request_route waits with progress",
			args: []string{ts.URL, "request_route", `{"host":"pypi.org","reason":"pip install"}`},
			wantOut: map[string]any{"id": "p1", "status": "approved", "notes": "ok",
				"route": map[string]any{"host": "pypi.org"}},
			wantStderr: `progress: waiting for the operator`,
		},
		{
			name:       "tool error",
			args:       []string{ts.URL, "request_route", `{"host":"refused.example","reason":"x"}`},
			wantCode:   1,
			wantStderr: "refused.example is not allowed: ask the operator",
		},
		{
			name:       "bad JSON args",
			args:       []string{ts.URL, "list_routes", `[1]`},
			wantCode:   2,
			wantStderr: "JSON-ARGS is not a JSON object",
		},
		{
			name:       "usage",
			args:       []string{ts.URL},
			wantCode:   2,
			wantStderr: "usage: mcpcall",
		},
		{
			name:       "no server",
			args:       []string{"-timeout", "5s", "http://127.0.0.1:1/mcp", "list_routes"},
			wantCode:   2,
			wantStderr: "connect http://127.0.0.1:1/mcp",
		},
		{
			name:       "timeout",
			args:       []string{"-timeout", "100ms", ts.URL, "request_route", `{"host":"pypi.org","reason":"x"}`},
			wantCode:   2,
			wantStderr: "mcpcall: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bin, tt.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("run: %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr.String())
			}
			if tt.wantOut == nil {
				if stdout.Len() != 0 {
					t.Errorf("stdout = %q, want nothing", stdout.String())
				}
				return
			}
			lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("stdout has %d lines, want 1 JSON line: %q", len(lines), stdout.String())
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
				t.Fatalf("stdout is not JSON: %q", lines[0])
			}
			if d := cmp.Diff(tt.wantOut, got); d != "" {
				t.Errorf("result (-want +got):\n%s", d)
			}
		})
	}
}
