package mcpsrv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// hostTransport sends every request with Host set to host.
type hostTransport struct{ host string }

func (h hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return http.DefaultTransport.RoundTrip(r)
}

type client struct {
	cs *mcp.ClientSession

	mu       sync.Mutex
	progress []string
}

func (c *client) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.progress...)
}

// serve starts Handler(a, opts) at /mcp and connects a client whose
// requests carry Host host ("" for the server's address).
func serve(t *testing.T, a supervise.Agent, opts Options, host string) (*client, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/mcp", Handler(a, opts))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	c := &client{}
	mc := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.progress = append(c.progress, req.Params.Message)
		},
	})
	hc := ts.Client()
	if host != "" {
		hc = &http.Client{Transport: hostTransport{host: host}}
	}
	cs, err := mc.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	c.cs = cs
	// Registered after ts.Close, so it runs first.
	t.Cleanup(func() { _ = cs.Close() })
	return c, ts
}

// call calls tool and returns its result and structured content
// decoded into out.
func call(t *testing.T, c *client, tool string, args any, out any) *mcp.CallToolResult {
	t.Helper()
	p := &mcp.CallToolParams{Name: tool, Arguments: args}
	p.SetProgressToken("tok")
	res, err := c.cs.CallTool(t.Context(), p)
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	if res.IsError {
		return res
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatalf("marshal structured content: %v", err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("decode structured content %s: %v", raw, err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("content has %d items, want 1 text", len(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content is %T, want text", res.Content[0])
	}
	var fromText any
	if err := json.Unmarshal([]byte(tc.Text), &fromText); err != nil {
		t.Fatalf("text content is not JSON: %q", tc.Text)
	}
	var fromStruct any
	_ = json.Unmarshal(raw, &fromStruct)
	if d := cmp.Diff(fromStruct, fromText); d != "" {
		t.Errorf("text content differs from structured content (-struct +text):\n%s", d)
	}
	return res
}

func errText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func TestListRoutesAndRecentBlocks(t *testing.T) {
	f := newFakeAgent()
	f.routes = supervise.Routes{
		Bottle: "b1",
		Routes: []supervise.RouteView{{Host: "api.github.com", Auth: "bearer", Matches: []policy.Match{{Methods: []string{"GET"}}}}},
	}
	f.blocks = []supervise.Block{{
		Time: time.Date(2026, 12, 2, 21, 0, 0, 0, time.UTC), Method: "GET", Host: "pypi.org", Path: "/simple/", Rule: "host-not-allowed",
		Reason: "no route for pypi.org", Ask: &supervise.RouteRequest{Host: "pypi.org", Methods: []string{"GET"}},
	}}
	c, _ := serve(t, f, Options{}, "")

	var routes supervise.Routes
	call(t, c, ToolListRoutes, map[string]any{}, &routes)
	want := f.routes
	want.Grants = []supervise.Grant{}
	if d := cmp.Diff(want, routes); d != "" {
		t.Errorf("list_routes (-want +got):\n%s", d)
	}

	var blocks BlocksOut
	call(t, c, ToolRecentBlocks, nil, &blocks)
	if d := cmp.Diff(BlocksOut{Blocks: f.blocks}, blocks); d != "" {
		t.Errorf("recent_blocks (-want +got):\n%s", d)
	}
}

func TestEmptyListsAreArrays(t *testing.T) {
	c, _ := serve(t, newFakeAgent(), Options{}, "")
	for _, tool := range []string{ToolListRoutes, ToolRecentBlocks} {
		var got map[string]any
		call(t, c, tool, nil, &got)
		for k, v := range got {
			if v == nil {
				t.Errorf("%s: %s is null, want []", tool, k)
			}
		}
	}
}

func TestRequestRouteDecidedInWait(t *testing.T) {
	f := newFakeAgent()
	c, _ := serve(t, f, Options{WaitMax: 10 * time.Second}, "")
	narrowed := &supervise.RouteRequest{Host: "pypi.org", Paths: []supervise.PathSpec{{Type: "prefix", Value: "/simple/"}}, Methods: []string{"GET"}}
	go func() {
		id := <-f.waiting
		f.decide(id, supervise.StatusModified, supervise.Decision{Notes: "GET only", By: "op@host"}, narrowed)
	}()
	var got DecisionOut
	call(t, c, ToolRequestRoute, map[string]any{
		"host": "pypi.org", "paths": []map[string]string{{"type": "prefix", "value": "/"}}, "reason": "pip install",
	}, &got)
	want := DecisionOut{ID: "p1", Status: supervise.StatusModified, Notes: "GET only",
		Route: &RouteOut{Host: "pypi.org", Paths: []PathIn{{Type: "prefix", Value: "/simple/"}}, Methods: []string{"GET"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("request_route (-want +got):\n%s", d)
	}
	wantReq := []supervise.RouteRequest{{Host: "pypi.org", Paths: []supervise.PathSpec{{Type: "prefix", Value: "/"}}, Reason: "pip install"}}
	if d := cmp.Diff(wantReq, f.requests); d != "" {
		t.Errorf("agent got (-want +got):\n%s", d)
	}
}

func TestRejectedShowsReason(t *testing.T) {
	f := newFakeAgent()
	c, _ := serve(t, f, Options{WaitMax: 10 * time.Second}, "")
	go func() {
		id := <-f.waiting
		f.decide(id, supervise.StatusRejected, supervise.Decision{Reason: "use the mirror"}, nil)
	}()
	var got DecisionOut
	call(t, c, ToolRequestRoute, map[string]any{"host": "pypi.org", "reason": "pip"}, &got)
	want := DecisionOut{ID: "p1", Status: supervise.StatusRejected, Notes: "use the mirror"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("request_route (-want +got):\n%s", d)
	}
}

func TestPendingThenWaitForDecision(t *testing.T) {
	f := newFakeAgent()
	c, _ := serve(t, f, Options{WaitMax: 100 * time.Millisecond}, "")
	var got DecisionOut
	call(t, c, ToolRequestRoute, map[string]any{"host": "pypi.org", "methods": []string{"GET"}, "reason": "pip"}, &got)
	if got.Status != supervise.StatusPending || got.ID != "p1" || got.Route != nil {
		t.Fatalf("request_route = %+v, want pending p1 without route", got)
	}
	if !strings.Contains(got.Notes, ToolWaitForDecision) || !strings.Contains(got.Notes, `"p1"`) {
		t.Errorf("pending notes %q do not say to call wait_for_decision with the id", got.Notes)
	}
	<-f.waitEnded

	go func() {
		id := <-f.waiting
		f.decide(id, supervise.StatusApproved, supervise.Decision{}, nil)
	}()
	got = DecisionOut{}
	call(t, c, ToolWaitForDecision, map[string]any{"id": "p1"}, &got)
	want := DecisionOut{ID: "p1", Status: supervise.StatusApproved, Route: &RouteOut{Host: "pypi.org", Methods: []string{"GET"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("wait_for_decision (-want +got):\n%s", d)
	}
}

func TestProgressDuringWait(t *testing.T) {
	f := newFakeAgent()
	c, _ := serve(t, f, Options{WaitMax: 10 * time.Second, ProgressEvery: 50 * time.Millisecond}, "")
	go func() {
		id := <-f.waiting
		deadline := time.Now().Add(5 * time.Second)
		for len(c.messages()) < 3 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		f.decide(id, supervise.StatusApproved, supervise.Decision{}, nil)
	}()
	var got DecisionOut
	call(t, c, ToolRequestRoute, map[string]any{"host": "pypi.org", "reason": "pip"}, &got)
	if got.Status != supervise.StatusApproved {
		t.Fatalf("status %q, want approved", got.Status)
	}
	msgs := c.messages()
	if len(msgs) < 3 {
		t.Fatalf("got %d progress notifications, want at least 3: %q", len(msgs), msgs)
	}
	for _, m := range msgs {
		if !strings.Contains(m, "waiting for the operator") || !strings.Contains(m, `wait_for_decision with id "p1"`) || !strings.Contains(m, "of at most 10s") {
			t.Errorf("progress message %q does not say what to do", m)
		}
	}
}

func TestAgentErrorIsToolError(t *testing.T) {
	f := newFakeAgent()
	f.reqErr = errors.New("this bottle holds 8 pending proposals: wait for a decision before asking again")
	c, _ := serve(t, f, Options{}, "")
	res := call(t, c, ToolRequestRoute, map[string]any{"host": "pypi.org", "reason": "pip"}, nil)
	if !res.IsError {
		t.Fatalf("result is not an error: %+v", res)
	}
	if got := errText(res); !strings.Contains(got, f.reqErr.Error()) {
		t.Errorf("error text %q lacks %q", got, f.reqErr)
	}

	res = call(t, c, ToolWaitForDecision, map[string]any{"id": "nope"}, nil)
	if !res.IsError || !strings.Contains(errText(res), "no proposal nope") {
		t.Errorf("wait_for_decision on an unknown id = %+v, want an error naming it", res)
	}
}

func TestInvalidArgumentsAreToolErrors(t *testing.T) {
	c, _ := serve(t, newFakeAgent(), Options{}, "")
	for name, args := range map[string]map[string]any{
		"no host":       {"reason": "x"},
		"bad path type": {"host": "h", "reason": "x", "paths": []map[string]string{{"type": "glob", "value": "/"}}},
		"no path value": {"host": "h", "reason": "x", "paths": []map[string]string{{"type": "prefix"}}},
	} {
		t.Run(name, func(t *testing.T) {
			res := call(t, c, ToolRequestRoute, args, nil)
			if !res.IsError {
				t.Errorf("result is not an error: %+v", res)
			}
		})
	}
}

func TestHostHeaders(t *testing.T) {
	for _, host := range []string{"_egress.local", "10.89.0.2:9099", "127.0.0.1:9099"} {
		t.Run(host, func(t *testing.T) {
			c, _ := serve(t, newFakeAgent(), Options{}, host)
			var routes supervise.Routes
			res := call(t, c, ToolListRoutes, nil, &routes)
			if res.IsError {
				t.Errorf("list_routes with Host %s: %s", host, errText(res))
			}
		})
	}
}

func TestBodyCap(t *testing.T) {
	ts := httptest.NewServer(Handler(newFakeAgent(), Options{}))
	defer ts.Close()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"` +
		strings.Repeat("a", MaxBody) + `"}}}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d for a body over %d bytes, want 413", resp.StatusCode, MaxBody)
	}
}

func TestClientGoesAwayEndsWait(t *testing.T) {
	for _, how := range []string{"cancel", "delete session", "drop connection"} {
		t.Run(how, func(t *testing.T) {
			f := newFakeAgent()
			var conns sync.Map
			mux := http.NewServeMux()
			mux.Handle("/mcp", Handler(f, Options{WaitMax: time.Minute}))
			ts := httptest.NewUnstartedServer(mux)
			ts.Config.ConnState = func(c net.Conn, s http.ConnState) { conns.Store(c, s) }
			ts.Start()
			defer ts.Close()
			mc := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil)
			cs, err := mc.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp", HTTPClient: ts.Client()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cs.Close() }()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolRequestRoute, Arguments: map[string]any{"host": "h", "reason": "r"}})
				errc <- err
			}()
			<-f.waiting
			switch how {
			case "cancel":
				cancel()
			case "delete session":
				// The SDK's client waits for its calls before it sends
				// the DELETE; other clients do not.
				del, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, ts.URL+"/mcp", nil)
				if err != nil {
					t.Fatal(err)
				}
				del.Header.Set("Mcp-Session-Id", cs.ID())
				del.Header.Set("Mcp-Protocol-Version", cs.InitializeResult().ProtocolVersion)
				resp, err := ts.Client().Do(del)
				if err != nil {
					t.Fatalf("delete session: %v", err)
				}
				_ = resp.Body.Close()
			case "drop connection":
				conns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
			}
			select {
			case err := <-f.waitEnded:
				if err == nil {
					t.Errorf("Wait ended without its context ending")
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("Wait still running 10s after the client went away (%s)", how)
			}
			cancel()
			<-errc
		})
	}
}

func TestToolsList(t *testing.T) {
	c, _ := serve(t, newFakeAgent(), Options{}, "")
	res, err := c.cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	schemas := map[string]string{}
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		b, _ := json.Marshal(tool.InputSchema)
		schemas[tool.Name] = string(b)
		if !strings.Contains(tool.Description, "credential") && tool.Name == ToolRequestRoute {
			t.Errorf("request_route's description does not say a route never carries a credential")
		}
	}
	want := []string{ToolListRoutes, ToolRecentBlocks, ToolRequestRoute, ToolWaitForDecision}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("tools (-want +got):\n%s", d)
	}
	rr := schemas[ToolRequestRoute]
	for _, s := range []string{`"enum":["prefix","exact","regex"]`, `"required":["host","reason"]`, `"additionalProperties":false`} {
		if !strings.Contains(rr, s) {
			t.Errorf("request_route's input schema lacks %s: %s", s, rr)
		}
	}
	if got := c.cs.InitializeResult(); got.ServerInfo.Name != "bot-bottle" || !strings.Contains(got.Instructions, ToolRequestRoute) {
		t.Errorf("server info %+v, instructions %q", got.ServerInfo, got.Instructions)
	}
}
