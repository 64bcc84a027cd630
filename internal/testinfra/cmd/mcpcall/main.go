// Command mcpcall calls one tool of an MCP server over streamable HTTP,
// for end-to-end tests inside a bottle:
//
//	mcpcall [-timeout D] URL TOOL [JSON-ARGS]
//
// It prints the tool's structured result as one JSON line on stdout and
// progress messages on stderr. It exits 1 when the tool reports an error
// (its text on stderr) and 2 on a usage, protocol or connection error.
// It connects directly, ignoring HTTP_PROXY: the bottle's NO_PROXY names
// the proxy host anyway.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Exit codes.
const (
	exitOK        = 0
	exitToolError = 1
	exitFailure   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errToolError marks a result the tool flagged as an error.
var errToolError = errors.New("tool error")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcpcall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after `D`")
	fs.Usage = func() {
		_, _ = fmt.Fprintln(stderr, "usage: mcpcall [-timeout D] URL TOOL [JSON-ARGS]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitFailure
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		fs.Usage()
		return exitFailure
	}
	url, tool := fs.Arg(0), fs.Arg(1)
	var toolArgs map[string]any
	if fs.NArg() == 3 {
		if err := json.Unmarshal([]byte(fs.Arg(2)), &toolArgs); err != nil {
			_, _ = fmt.Fprintf(stderr, "mcpcall: JSON-ARGS is not a JSON object: %v\n", err)
			return exitFailure
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	out, err := call(ctx, url, tool, toolArgs, stderr)
	switch {
	case errors.Is(err, errToolError):
		_, _ = fmt.Fprintf(stderr, "mcpcall: %s: %s\n", tool, out)
		return exitToolError
	case err != nil:
		_, _ = fmt.Fprintf(stderr, "mcpcall: %v\n", err)
		return exitFailure
	}
	_, _ = fmt.Fprintln(stdout, out)
	return exitOK
}

// call calls tool and returns its structured result as JSON, or, with
// errToolError, the text of an error result.
func call(ctx context.Context, url, tool string, args map[string]any, stderr io.Writer) (string, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpcall", Version: "v0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			_, _ = fmt.Fprintf(stderr, "progress: %s\n", req.Params.Message)
		},
	})
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: directClient()}, nil)
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", url, err)
	}
	defer func() { _ = cs.Close() }()
	params := &mcp.CallToolParams{Name: tool, Arguments: args}
	params.SetProgressToken("mcpcall")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		return "", fmt.Errorf("call %s: %w", tool, err)
	}
	if res.IsError {
		return text(res), errToolError
	}
	if res.StructuredContent == nil {
		return "", fmt.Errorf("call %s: no structured result (text: %q)", tool, text(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return "", fmt.Errorf("encode result of %s: %w", tool, err)
	}
	return string(b), nil
}

// directClient ignores HTTP_PROXY and friends: the default transport
// would send a bottle's request for the proxy's own address to itself
// as a proxy request when NO_PROXY does not name it.
func directClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil}}
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}
