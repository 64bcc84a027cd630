package fakeapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/coder/websocket"
)

// serveWebSocket answers the response.create messages of one WebSocket
// connection to /v1/responses, each with the events a streamed response
// would send, one message each. The connection's upgrade request carries
// the credentials, and each message is recorded with them.
func (o *OpenAI) serveWebSocket(w http.ResponseWriter, r *http.Request, req Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		o.record(OpenAIRequest{Request: req})
		return // Accept wrote the error
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(16 << 20)
	ctx := r.Context()
	for {
		typ, raw, err := c.Read(ctx)
		if err != nil {
			return // closed by the client, or broken
		}
		if typ != websocket.MessageText {
			_ = c.Close(websocket.StatusUnsupportedData, "text messages only")
			return
		}
		var events []map[string]any
		var body struct{ Type string }
		if _ = json.Unmarshal(raw, &body); body.Type == "response.create" {
			events, err = o.respond(&req, TransportWebSocket, raw)
		} else {
			err = errors.New("want a response.create message")
			bad := req
			bad.Body = string(raw)
			o.record(OpenAIRequest{Request: bad, Transport: TransportWebSocket})
		}
		if err != nil {
			events = []map[string]any{{"type": "error", "status": http.StatusBadRequest,
				"error": map[string]any{"type": "invalid_request_error", "message": err.Error()}}}
		}
		for _, ev := range events {
			b, _ := json.Marshal(ev)
			if err := c.Write(ctx, websocket.MessageText, b); err != nil {
				return
			}
		}
	}
}
