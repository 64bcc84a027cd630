// Package mcpsrv serves the agent's side of supervise (supervise.Agent)
// as an MCP server over streamable HTTP: the tools request_route,
// wait_for_decision, list_routes and recent_blocks.
//
// It is mounted at /mcp of the egress proxy port, so the agent reaches it
// by an IP, by 127.0.0.1 through a relay, or as _egress.local through the
// proxy: the SDK's localhost Host check is off for that reason. Nothing
// here decides a proposal; the tools only ask, wait and read.
package mcpsrv

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bot-bottle/bot-bottle/internal/buildinfo"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// Defaults of Options.
const (
	// MaxBody caps one request body: tool arguments are small.
	MaxBody = 1 << 20
	// DefaultSessionTimeout closes a session idle this long, so a client
	// that goes away leaks nothing.
	DefaultSessionTimeout = 10 * time.Minute
)

// Name is the server's MCP name.
const Name = "bot-bottle"

// Instructions tell the agent when and how to use the tools.
const Instructions = `bot-bottle runs you in a sandbox whose egress proxy allows only listed routes. ` +
	`When a request is refused by the proxy (HTTP 403 from the bot-bottle proxy), call recent_blocks: ` +
	`each block shows the request_route arguments that would allow it. Then call request_route with that ` +
	`host, the narrowest paths and methods you need, and a short reason for the operator. A human decides; ` +
	`if the result's status is pending, call wait_for_decision with its id until it is approved, modified, ` +
	`rejected or expired. Once approved or modified, retry the request: it works without a restart. ` +
	`A route never carries a credential; only the operator can attach one. list_routes shows what is allowed now.`

// Options configure Handler.
type Options struct {
	// Log receives the server's logs; nil discards them.
	Log *slog.Logger
	// WaitMax is the longest one tool call waits for a decision; zero is
	// supervise.WaitMax.
	WaitMax time.Duration
	// ProgressEvery is how often a waiting call sends a progress
	// notification; zero is supervise.ProgressEvery.
	ProgressEvery time.Duration
	// SessionTimeout closes idle sessions; zero is DefaultSessionTimeout.
	SessionTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.WaitMax <= 0 {
		o.WaitMax = supervise.WaitMax
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = supervise.ProgressEvery
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	return o
}

// Handler serves MCP over streamable HTTP with the tools of a.
func Handler(a supervise.Agent, opts Options) http.Handler {
	opts = opts.withDefaults()
	c := &calls{}
	srv := newServer(a, opts, c)
	return c.wrap(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Logger:                       opts.Log,
		SessionTimeout:               opts.SessionTimeout,
		DisableLocalhostProtection:   true,
		MaxRequestBodyBytes:          MaxBody,
		PropagateRequestCancellation: true,
	}))
}

// NewServer returns the MCP server with the tools of a, for a transport
// other than Handler's.
func NewServer(a supervise.Agent, opts Options) *mcp.Server {
	return newServer(a, opts.withDefaults(), nil)
}

func newServer(a supervise.Agent, opts Options, c *calls) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: Name, Title: "bot-bottle supervise", Version: buildinfo.Version()},
		&mcp.ServerOptions{Instructions: Instructions, Logger: opts.Log})
	t := tools{a: a, opts: opts, calls: c}
	t.add(srv)
	return srv
}
