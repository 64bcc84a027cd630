package mcpsrv

import (
	"context"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// Tool names; fixed, so that scripts and prompts can rely on them.
const (
	ToolRequestRoute    = "request_route"
	ToolWaitForDecision = "wait_for_decision"
	ToolListRoutes      = "list_routes"
	ToolRecentBlocks    = "recent_blocks"
)

// PathIn is one path of RequestRouteIn.
type PathIn struct {
	Type  string `json:"type" jsonschema:"how value matches the request path: prefix (the path starts with value), exact, or regex (RE2, anchored by you)"`
	Value string `json:"value" jsonschema:"the path or pattern, starting with / for prefix and exact, e.g. /repos/acme/widget/"`
}

// RequestRouteIn is request_route's arguments.
type RequestRouteIn struct {
	Host    string   `json:"host" jsonschema:"the host name to reach, without scheme or port, e.g. api.github.com"`
	Paths   []PathIn `json:"paths,omitempty" jsonschema:"the paths you need, as narrow as will do; omit for every path (the operator is less likely to approve that)"`
	Methods []string `json:"methods,omitempty" jsonschema:"the HTTP methods you need, e.g. [\"GET\"]; omit for every method"`
	Reason  string   `json:"reason" jsonschema:"one or two sentences for the operator: what you are doing and why you need this route"`
	// WaitSeconds shortens the wait for the decision.
	WaitSeconds int `json:"wait_seconds,omitempty" jsonschema:"how long to wait for the decision before this returns pending, in seconds, at most 90 (the default)"`
}

// WaitIn is wait_for_decision's arguments.
type WaitIn struct {
	ID          string `json:"id" jsonschema:"the id request_route returned"`
	WaitSeconds int    `json:"wait_seconds,omitempty" jsonschema:"how long to wait before this returns pending again, in seconds, at most 90 (the default)"`
}

// NoArgs is the arguments of the tools that take none.
type NoArgs struct{}

// DecisionOut is what request_route and wait_for_decision return.
type DecisionOut struct {
	ID string `json:"id" jsonschema:"the proposal's id, for wait_for_decision"`
	// Status is pending, approved, modified, rejected or expired.
	Status supervise.Status `json:"status" jsonschema:"pending (call wait_for_decision with id), approved or modified (retry your request), rejected or expired (do not retry as is; read notes)"`
	Notes  string           `json:"notes,omitempty" jsonschema:"the operator's notes or reason, or what to do next"`
	Route  *RouteOut        `json:"route,omitempty" jsonschema:"the route an approval grants, as the operator may have modified it"`
}

// RouteOut is a route as DecisionOut shows it.
type RouteOut struct {
	Host    string   `json:"host"`
	Paths   []PathIn `json:"paths,omitempty"`
	Methods []string `json:"methods,omitempty"`
}

// BlocksOut is what recent_blocks returns.
type BlocksOut struct {
	Blocks []supervise.Block `json:"blocks" jsonschema:"the latest refusals, oldest first; request_route, when present, is the arguments that would allow the request"`
}

const (
	descRequestRoute = `Ask the operator for a new route, or a wider one on a host you already reach, after the egress proxy refused a request. ` +
		`A human decides; this call waits up to about a minute and a half for the decision. ` +
		`Result status: approved or modified (the route is in force now: retry your request, mind the route returned, which may be narrower than asked), ` +
		`rejected or expired (do not ask again for the same thing; read notes), or pending (no decision yet: call wait_for_decision with the id). ` +
		`Ask for the narrowest paths and methods you need; recent_blocks shows ready-made arguments for each refusal. ` +
		`A route never carries a credential: you cannot ask for one, only the operator can attach it.`
	descWait = `Wait again for the operator's decision on a proposal request_route returned as pending. ` +
		`Waits up to about a minute and a half; if the status is still pending, call it again with the same id. ` +
		`Statuses are as for request_route.`
	descListRoutes = `Show the routes this sandbox may use now, without secrets (a credential is named by its scheme only), ` +
		`and the grants in force from approved requests, with their expiry and uses left.`
	descRecentBlocks = `Show the latest requests the egress proxy refused, with the rule that refused each and, where a route change could allow it, ` +
		`the request_route arguments that would. Call this first when a request fails with a 403 from the proxy.`
)

type tools struct {
	a     supervise.Agent
	opts  Options
	calls *calls
}

func (t tools) add(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{
		Name: ToolRequestRoute, Title: "Request a route", Description: descRequestRoute,
		InputSchema: requestRouteSchema(),
		Annotations: &mcp.ToolAnnotations{OpenWorldHint: new(false)},
	}, t.requestRoute)
	mcp.AddTool(srv, &mcp.Tool{
		Name: ToolWaitForDecision, Title: "Wait for a decision", Description: descWait,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: new(false)},
	}, t.waitForDecision)
	mcp.AddTool(srv, &mcp.Tool{
		Name: ToolListRoutes, Title: "List routes", Description: descListRoutes,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: new(false)},
	}, t.listRoutes)
	mcp.AddTool(srv, &mcp.Tool{
		Name: ToolRecentBlocks, Title: "Recent blocks", Description: descRecentBlocks,
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: new(false)},
	}, t.recentBlocks)
}

// requestRouteSchema is RequestRouteIn's schema with the path types
// and the required fields spelled out.
func requestRouteSchema() *jsonschema.Schema {
	s, err := jsonschema.For[RequestRouteIn](nil)
	if err != nil {
		panic(fmt.Sprintf("mcpsrv: request_route schema: %v", err))
	}
	item := s.Properties["paths"].Items
	item.Properties["type"].Enum = []any{"prefix", "exact", "regex"}
	item.Required = []string{"type", "value"}
	s.Required = []string{"host", "reason"}
	return s
}

func (t tools) requestRoute(ctx context.Context, req *mcp.CallToolRequest, in RequestRouteIn) (*mcp.CallToolResult, DecisionOut, error) {
	rr := supervise.RouteRequest{Host: in.Host, Methods: in.Methods, Reason: in.Reason}
	for _, p := range in.Paths {
		rr.Paths = append(rr.Paths, supervise.PathSpec(p))
	}
	p, err := t.a.RequestRoute(ctx, rr)
	if err != nil {
		return nil, DecisionOut{}, err
	}
	t.opts.Log.InfoContext(ctx, "route requested", "id", p.ID, "host", in.Host)
	if p.Status.Decided() {
		return nil, decisionOut(p), nil
	}
	return t.wait(ctx, req, p.ID, in.WaitSeconds)
}

func (t tools) waitForDecision(ctx context.Context, req *mcp.CallToolRequest, in WaitIn) (*mcp.CallToolResult, DecisionOut, error) {
	if in.ID == "" {
		return nil, DecisionOut{}, fmt.Errorf("id is empty: pass the id request_route returned")
	}
	return t.wait(ctx, req, in.ID, in.WaitSeconds)
}

func (t tools) listRoutes(_ context.Context, _ *mcp.CallToolRequest, _ NoArgs) (*mcp.CallToolResult, supervise.Routes, error) {
	r := t.a.Routes()
	if r.Routes == nil {
		r.Routes = []supervise.RouteView{}
	}
	if r.Grants == nil {
		r.Grants = []supervise.Grant{}
	}
	return nil, r, nil
}

func (t tools) recentBlocks(_ context.Context, _ *mcp.CallToolRequest, _ NoArgs) (*mcp.CallToolResult, BlocksOut, error) {
	b := t.a.RecentBlocks()
	if b == nil {
		b = []supervise.Block{}
	}
	return nil, BlocksOut{Blocks: b}, nil
}

// decisionOut is p as the agent sees it.
func decisionOut(p supervise.Proposal) DecisionOut {
	out := DecisionOut{ID: p.ID, Status: p.Status}
	if d := p.Decision; d != nil {
		out.Notes = d.Notes
		if out.Notes == "" {
			out.Notes = d.Reason
		}
	}
	if !p.Status.Decided() {
		out.Notes = fmt.Sprintf("no decision yet: call %s with id %q", ToolWaitForDecision, p.ID)
	}
	if r := p.Route; r != nil && p.Status.Granted() {
		ro := &RouteOut{Host: r.Host, Methods: r.Methods}
		for _, ps := range r.Paths {
			ro.Paths = append(ro.Paths, PathIn(ps))
		}
		out.Route = ro
	}
	return out
}
