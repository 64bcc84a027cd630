// Package fakeapi holds fake model APIs for the tests that run the real
// agent CLIs: just enough of each provider's wire format for a CLI to hold
// a conversation, scripted by the test, recording what it was sent.
package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// A Turn is the model's answer to one request: text, or one tool call.
type Turn struct {
	Text string
	// Tool, when set, is a call of the tool named Tool, or else of the
	// first in the request whose name ends in Tool (MCP tools carry a
	// server prefix), with Input.
	Tool  string
	Input map[string]any
}

// A Script picks the model's next turn from a request. ToolResults are
// the texts of the tool results the conversation holds, oldest first.
type Script func(r *Request) Turn

// Request is what a fake API was sent, as the test reads it.
type Request struct {
	Path          string
	Authorization string
	APIKey        string // x-api-key
	Model         string
	Stream        bool
	Tools         []string
	System        string
	ToolResults   []string
	Body          string
}

// Anthropic is a fake of the Messages API (POST /v1/messages, JSON or SSE
// streaming) as Claude Code uses it. Any other path is a 404, recorded.
type Anthropic struct {
	Script Script

	mu   sync.Mutex
	reqs []Request
	n    int
}

// Requests are the requests the API was sent, in order.
func (a *Anthropic) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.reqs...)
}

type messagesBody struct {
	Model    string                  `json:"model"`
	Stream   bool                    `json:"stream"`
	System   json.RawMessage         `json:"system"`
	Tools    []struct{ Name string } `json:"tools"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Content   json.RawMessage `json:"content"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	ToolUseID string          `json:"tool_use_id"`
}

// toolSearch is Claude Code's tool that loads deferred tools (MCP tools
// among them) by name: the fake calls it when a scripted tool is
// deferred, as a model would, and hides its results from the script.
const toolSearch = "ToolSearch"

func (a *Anthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	req := Request{Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), APIKey: r.Header.Get("X-Api-Key"), Body: string(raw)}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		a.record(req)
		http.Error(w, `{"type":"error","error":{"type":"not_found_error","message":"not in the fake"}}`, http.StatusNotFound)
		return
	}
	var body messagesBody
	if err := json.Unmarshal(raw, &body); err != nil {
		a.record(req)
		http.Error(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	req.Model, req.Stream, req.System = body.Model, body.Stream, systemText(body.System)
	for _, t := range body.Tools {
		req.Tools = append(req.Tools, t.Name)
	}
	called := map[string]string{} // tool_use id -> tool name
	for _, m := range body.Messages {
		var blocks []block
		if json.Unmarshal(m.Content, &blocks) != nil {
			continue // a plain string: no tool result
		}
		for _, b := range blocks {
			switch b.Type {
			case "tool_use":
				called[b.ID] = b.Name
			case "tool_result":
				if called[b.ToolUseID] != toolSearch {
					req.ToolResults = append(req.ToolResults, resultText(b.Content))
				}
			}
		}
	}
	a.record(req)
	turn := Turn{Text: "ok"}
	if a.Script != nil && len(req.Tools) > 0 {
		turn = a.Script(&req)
	}
	a.mu.Lock()
	a.n++
	id := fmt.Sprintf("msg_fake_%d", a.n)
	a.mu.Unlock()
	content := map[string]any{"type": "text", "text": turn.Text}
	stop := "end_turn"
	if turn.Tool != "" {
		name := ""
		if slices.Contains(req.Tools, turn.Tool) {
			name = turn.Tool // Bash, not a tool whose name ends in Bash
		}
		for _, t := range req.Tools {
			if name == "" && strings.HasSuffix(t, turn.Tool) {
				name = t
			}
		}
		switch {
		case name == "" && slices.Contains(req.Tools, toolSearch) && !slices.Contains(slices.Collect(maps.Values(called)), toolSearch):
			content = map[string]any{"type": "tool_use", "id": "toolu_" + id, "name": toolSearch,
				"input": map[string]any{"query": strings.Trim(turn.Tool, "_"), "max_results": 5}}
			stop = "tool_use"
		case name == "":
			content = map[string]any{"type": "text", "text": "FAKE: no tool named *" + turn.Tool + " in " + strings.Join(req.Tools, ",")}
		default:
			content = map[string]any{"type": "tool_use", "id": "toolu_" + id, "name": name, "input": turn.Input}
			stop = "tool_use"
		}
	}
	if body.Stream {
		streamMessage(w, id, body.Model, content, stop)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": body.Model,
		"content": []any{content}, "stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": 10, "output_tokens": 5},
	})
}

func (a *Anthropic) record(r Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, r)
}

// streamMessage writes one message as the Messages API's server-sent
// events: a tool call's input arrives as one input_json_delta.
func streamMessage(w http.ResponseWriter, id, model string, content map[string]any, stop string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	event := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 10, "output_tokens": 1},
	}})
	switch content["type"] {
	case "tool_use":
		input, _ := json.Marshal(content["input"])
		event("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{
			"type": "tool_use", "id": content["id"], "name": content["name"], "input": map[string]any{},
		}})
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "input_json_delta", "partial_json": string(input)}})
	default:
		event("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": content["text"]}})
	}
	event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	event("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]int{"output_tokens": 5}})
	event("message_stop", map[string]any{"type": "message_stop"})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// systemText is a system prompt given as a string or as text blocks.
func systemText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []block
	_ = json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString(bl.Text)
		b.WriteString("\n")
	}
	return b.String()
}

// resultText is a tool result's content, a string or text blocks.
func resultText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []block
	_ = json.Unmarshal(raw, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString(bl.Text)
	}
	return b.String()
}
