package mcpsrv

import (
	"context"
	"crypto/rand"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// callHeader carries, from the HTTP layer to a tool handler, the key of
// the POST that carries the call. The SDK detaches a call's context
// from its HTTP request on sessions of protocols before 2026-07-28, so
// without it a client that drops the connection or closes its session
// mid-wait would leave the Wait running until WaitMax.
const callHeader = "X-Bot-Bottle-Mcp-Call"

// sessionHeader is the MCP session's ID.
const sessionHeader = "Mcp-Session-Id"

// calls maps call keys to the POSTs that carry them.
type calls struct{ m sync.Map }

type post struct {
	ctx     context.Context
	cancel  context.CancelFunc
	session string
}

// wrap sets callHeader on every POST (replacing any the client sent) and
// keeps the request's context under it until the request ends. A DELETE
// (the client closing its session) first ends that session's POSTs: the
// SDK's session close waits for running handlers.
func (c *calls) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(callHeader)
		switch r.Method {
		case http.MethodPost:
		case http.MethodDelete:
			c.endSession(r.Header.Get(sessionHeader))
			h.ServeHTTP(w, r)
			return
		default:
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		key := rand.Text()
		c.m.Store(key, post{ctx: ctx, cancel: cancel, session: r.Header.Get(sessionHeader)})
		defer func() {
			c.m.Delete(key)
			cancel()
		}()
		r.Header.Set(callHeader, key)
		h.ServeHTTP(w, r)
	})
}

// endSession cancels the POSTs of session id.
func (c *calls) endSession(id string) {
	if id == "" {
		return
	}
	c.m.Range(func(_, v any) bool {
		if p := v.(post); p.session == id {
			p.cancel()
		}
		return true
	})
}

// bind returns ctx cancelled also when the HTTP request that carries req
// ends (nil c or a call not over HTTP: ctx as is), and its cancel.
func (c *calls) bind(ctx context.Context, req *mcp.CallToolRequest) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if c == nil || req == nil || req.Extra == nil || req.Extra.Header == nil {
		return ctx, cancel
	}
	key := req.Extra.Header.Get(callHeader)
	if key == "" {
		return ctx, cancel
	}
	v, ok := c.m.Load(key)
	if !ok {
		// The request already ended: nobody will read the result.
		cancel()
		return ctx, cancel
	}
	stop := context.AfterFunc(v.(post).ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}
