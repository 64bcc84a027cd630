//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// runMCP calls one tool of an MCP server over streamable HTTP, as an
// agent CLI would, connecting directly (the proxy's port is in NO_PROXY):
// probe mcp URL TOOL [JSON-ARGS]. It prints the tool's structured result
// as one JSON line and each progress message on stderr, and exits 0, 1
// on a tool error (its text on stderr), 2 on a usage or protocol error.
func runMCP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || len(args) > 3 {
		fmt.Fprintln(stderr, "usage: probe mcp URL TOOL [JSON-ARGS]")
		return 2
	}
	var toolArgs map[string]any
	if len(args) == 3 {
		if err := json.Unmarshal([]byte(args[2]), &toolArgs); err != nil {
			fmt.Fprintf(stderr, "probe: the tool's arguments: %v\n", err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "bb-probe", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			fmt.Fprintf(stderr, "progress: %s\n", r.Params.Message)
		},
	})
	tr := &mcp.StreamableClientTransport{Endpoint: args[0], HTTPClient: &http.Client{Transport: &http.Transport{Proxy: nil}}, MaxRetries: -1, DisableStandaloneSSE: true}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		fmt.Fprintf(stderr, "probe: connecting to %s: %v\n", args[0], err)
		return 2
	}
	defer func() { _ = cs.Close() }()
	params := &mcp.CallToolParams{Name: args[1], Arguments: toolArgs}
	params.SetProgressToken("bb-probe")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		fmt.Fprintf(stderr, "probe: calling %s: %v\n", args[1], err)
		return 2
	}
	if res.IsError {
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				fmt.Fprintln(stderr, t.Text)
			}
		}
		return 1
	}
	out := res.StructuredContent
	if out == nil {
		out = res.Content
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "probe: writing the result: %v\n", err)
		return 2
	}
	return 0
}
