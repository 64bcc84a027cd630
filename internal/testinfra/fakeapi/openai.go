package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// Transports a request to the Responses API came over.
const (
	TransportSSE       = "sse"       // POST /v1/responses, streamed as server-sent events
	TransportWebSocket = "websocket" // a response.create message on a WebSocket to /v1/responses
)

// OpenAIRequest is what the OpenAI fake was sent: a Request, and the
// transport it came over ("" for a path the fake does not serve).
type OpenAIRequest struct {
	Request
	Transport string
}

// OpenAI is a fake of the Responses API as Codex uses it: POST
// /v1/responses streamed as server-sent events, and the same requests as
// response.create messages on a WebSocket to /v1/responses, which Codex
// tries first. Any other path is a 404, recorded.
//
// A Turn's Tool is matched by suffix against Request.Tools, which names
// the request's function and custom tools, a namespace's tools as
// "namespace.name", and the tools nested in a code-mode tool (Codex's
// exec, which runs JavaScript) as "exec.name": the fake calls a nested
// tool with a script, as a model would. A custom tool called directly
// takes Turn.Input["input"], a string, as its input.
type OpenAI struct {
	Script Script
	// NoWebSocket refuses the WebSocket upgrade with 426 Upgrade
	// Required, as a server without it would.
	NoWebSocket bool

	mu    sync.Mutex // guards the fields below
	reqs  []OpenAIRequest
	n     int                          // the last id's number
	convs map[string][]json.RawMessage // response id -> its input and output items
}

// Requests are the requests the API was sent, in order.
func (o *OpenAI) Requests() []OpenAIRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]OpenAIRequest(nil), o.reqs...)
}

func (o *OpenAI) record(r OpenAIRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reqs = append(o.reqs, r)
}

func (o *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := Request{Path: r.URL.Path, Authorization: r.Header.Get("Authorization"), APIKey: r.Header.Get("X-Api-Key")}
	if r.URL.Path == "/v1/responses" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		if o.NoWebSocket {
			o.record(OpenAIRequest{Request: req})
			apiError(w, http.StatusUpgradeRequired, "invalid_request_error", "websocket is not in the fake")
			return
		}
		o.serveWebSocket(w, r, req)
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	req.Body = string(raw)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/responses" {
		o.record(OpenAIRequest{Request: req})
		apiError(w, http.StatusNotFound, "invalid_request_error", "not in the fake")
		return
	}
	events, err := o.respond(&req, TransportSSE, raw)
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], b)
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// apiError writes an error as the OpenAI API shapes them.
func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

type responsesBody struct {
	Type               string          `json:"type"` // response.create, on a WebSocket
	Model              string          `json:"model"`
	Stream             bool            `json:"stream"`
	Instructions       string          `json:"instructions"`
	Input              json.RawMessage `json:"input"`
	Tools              []toolDef       `json:"tools"`
	PreviousResponseID string          `json:"previous_response_id"`
	Generate           *bool           `json:"generate"`
}

// toolDef is a tool of a request: a function, a custom (freeform) tool,
// or a namespace of tools.
type toolDef struct {
	Type        string    `json:"type"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Tools       []toolDef `json:"tools"`
}

// inputItem is an item of a conversation: a message, a tool call or its
// output, or Codex's additional_tools, which declares tools in the input.
type inputItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	CallID  string          `json:"call_id"`
	Output  json.RawMessage `json:"output"`
	Tools   []toolDef       `json:"tools"`
}

// respond records a request's body, read as the Responses API does, and
// returns the events that answer it.
func (o *OpenAI) respond(req *Request, transport string, raw []byte) ([]map[string]any, error) {
	rec := OpenAIRequest{Request: *req, Transport: transport}
	rec.Body = string(raw)
	var body responsesBody
	if err := json.Unmarshal(raw, &body); err != nil {
		o.record(rec)
		return nil, fmt.Errorf("bad json: %w", err)
	}
	rec.Model, rec.Stream = body.Model, body.Stream
	input, err := inputItems(body.Input)
	if err != nil {
		o.record(rec)
		return nil, err
	}
	o.mu.Lock()
	prev, known := o.convs[body.PreviousResponseID]
	o.n++
	id := fmt.Sprintf("resp_fake_%d", o.n)
	o.mu.Unlock()
	if body.PreviousResponseID != "" && !known {
		o.record(rec)
		return nil, fmt.Errorf("previous response %q not found", body.PreviousResponseID)
	}
	conv := append(append([]json.RawMessage(nil), prev...), input...)
	tools := newToolSet(body.Tools)
	var system []string
	if body.Instructions != "" {
		system = append(system, body.Instructions)
	}
	for _, raw := range conv {
		var it inputItem
		if json.Unmarshal(raw, &it) != nil {
			continue
		}
		switch it.Type {
		case "additional_tools":
			tools.add(it.Tools, "")
		case "message":
			if it.Role == "developer" || it.Role == "system" {
				system = append(system, resultText(it.Content))
			}
		case "function_call_output", "custom_tool_call_output":
			rec.ToolResults = append(rec.ToolResults, resultText(it.Output))
		}
	}
	rec.Tools, rec.System = tools.names, strings.Join(system, "\n")
	o.record(rec)

	var output []map[string]any
	if body.Generate == nil || *body.Generate { // generate: false only warms a connection up
		turn := Turn{Text: "ok"}
		if o.Script != nil && len(rec.Tools) > 0 {
			turn = o.Script(&rec.Request)
		}
		output = append(output, tools.item(turn, fmt.Sprintf("fake_%d", o.nextN())))
	}
	for _, it := range output {
		b, _ := json.Marshal(it)
		conv = append(conv, b)
	}
	o.mu.Lock()
	if o.convs == nil {
		o.convs = map[string][]json.RawMessage{}
	}
	o.convs[id] = conv
	o.mu.Unlock()
	return responseEvents(id, body.Model, output), nil
}

func (o *OpenAI) nextN() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	return o.n
}

// inputItems is a request's input: a list of items, or a string that is
// one user message.
func inputItems(raw json.RawMessage) ([]json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) == nil {
		return items, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("input is neither a list of items nor a string: %w", err)
	}
	b, _ := json.Marshal(map[string]any{"type": "message", "role": "user", "content": s})
	return []json.RawMessage{b}, nil
}

// nestedTool finds the tools a code-mode tool's description declares:
// `declare const tools: { exec_command(args: ...`.
var nestedTool = regexp.MustCompile(`declare const tools: \{ ([A-Za-z_$][\w$]*)\(`)

// toolSet is the tools a request offers, by the names Request.Tools
// gives them.
type toolSet struct {
	names []string
	kinds map[string]string // name -> function, custom or nested
}

func newToolSet(tools []toolDef) *toolSet {
	s := &toolSet{kinds: map[string]string{}}
	s.add(tools, "")
	return s
}

func (s *toolSet) add(tools []toolDef, namespace string) {
	for _, t := range tools {
		name := t.Name
		if namespace != "" && namespace != "functions" { // Codex's namespace of plain functions
			name = namespace + "." + t.Name
		}
		switch t.Type {
		case "namespace":
			s.add(t.Tools, t.Name)
			continue
		case "function", "custom":
		default:
			continue // a hosted tool (web search and the like): not callable by the fake
		}
		s.put(name, t.Type)
		if t.Type == "custom" {
			for _, m := range nestedTool.FindAllStringSubmatch(t.Description, -1) {
				s.put(name+"."+m[1], "nested")
			}
		}
	}
}

func (s *toolSet) put(name, kind string) {
	if _, ok := s.kinds[name]; !ok {
		s.names = append(s.names, name)
	}
	s.kinds[name] = kind
}

// item is the output item that turn makes: a message, or a call of the
// first tool whose name ends in turn.Tool.
func (s *toolSet) item(turn Turn, suffix string) map[string]any {
	if turn.Tool == "" {
		return message("msg_"+suffix, turn.Text)
	}
	name := ""
	for _, n := range s.names {
		if strings.HasSuffix(n, turn.Tool) {
			name = n
			break
		}
	}
	callID := "call_" + suffix
	switch s.kinds[name] {
	case "function":
		args, _ := json.Marshal(turn.Input)
		it := map[string]any{"type": "function_call", "id": "fc_" + suffix, "call_id": callID, "status": "completed", "arguments": string(args)}
		if ns, fn, ok := strings.Cut(name, "."); ok {
			it["namespace"], it["name"] = ns, fn
		} else {
			it["name"] = name
		}
		return it
	case "custom":
		input, _ := turn.Input["input"].(string)
		return map[string]any{"type": "custom_tool_call", "id": "ctc_" + suffix, "call_id": callID, "status": "completed", "name": name, "input": input}
	case "nested":
		i := strings.LastIndex(name, ".")
		args, _ := json.Marshal(turn.Input)
		script := fmt.Sprintf("const r = await tools.%s(%s);\ntext(typeof r === \"string\" ? r : JSON.stringify(r));\n", name[i+1:], args)
		return map[string]any{"type": "custom_tool_call", "id": "ctc_" + suffix, "call_id": callID, "status": "completed", "name": name[:i], "input": script}
	}
	return message("msg_"+suffix, "FAKE: no tool named *"+turn.Tool+" in "+strings.Join(s.names, ","))
}

func message(id, text string) map[string]any {
	return map[string]any{"type": "message", "id": id, "role": "assistant", "status": "completed",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
}

// responseEvents are the streaming events of a response whose output is
// output: the same on both transports.
func responseEvents(id, model string, output []map[string]any) []map[string]any {
	resp := func(status string, out []map[string]any) map[string]any {
		r := map[string]any{"id": id, "object": "response", "created_at": 1700000000, "status": status, "model": model, "output": out}
		if status == "completed" {
			r["usage"] = map[string]any{
				"input_tokens": 10, "input_tokens_details": map[string]int{"cached_tokens": 0},
				"output_tokens": 5, "output_tokens_details": map[string]int{"reasoning_tokens": 0},
				"total_tokens": 15,
			}
		}
		return r
	}
	events := []map[string]any{
		{"type": "response.created", "response": resp("in_progress", []map[string]any{})},
		{"type": "response.in_progress", "response": resp("in_progress", []map[string]any{})},
	}
	for i, it := range output {
		started := maps.Clone(it)
		started["status"] = "in_progress"
		switch it["type"] {
		case "message":
			started["content"] = []any{}
		case "function_call":
			started["arguments"] = ""
		case "custom_tool_call":
			started["input"] = ""
		}
		events = append(events, map[string]any{"type": "response.output_item.added", "output_index": i, "item": started})
		switch it["type"] {
		case "message":
			text := it["content"].([]any)[0].(map[string]any)["text"]
			part := map[string]any{"type": "output_text", "text": "", "annotations": []any{}}
			events = append(events,
				map[string]any{"type": "response.content_part.added", "item_id": it["id"], "output_index": i, "content_index": 0, "part": part},
				map[string]any{"type": "response.output_text.delta", "item_id": it["id"], "output_index": i, "content_index": 0, "delta": text},
				map[string]any{"type": "response.output_text.done", "item_id": it["id"], "output_index": i, "content_index": 0, "text": text},
			)
		case "function_call":
			events = append(events, map[string]any{"type": "response.function_call_arguments.delta", "item_id": it["id"], "output_index": i, "delta": it["arguments"]},
				map[string]any{"type": "response.function_call_arguments.done", "item_id": it["id"], "output_index": i, "arguments": it["arguments"]})
		case "custom_tool_call":
			events = append(events, map[string]any{"type": "response.custom_tool_call_input.delta", "item_id": it["id"], "output_index": i, "delta": it["input"]},
				map[string]any{"type": "response.custom_tool_call_input.done", "item_id": it["id"], "output_index": i, "input": it["input"]})
		}
		events = append(events, map[string]any{"type": "response.output_item.done", "output_index": i, "item": it})
	}
	events = append(events, map[string]any{"type": "response.completed", "response": resp("completed", output)})
	for i, ev := range events {
		ev["sequence_number"] = i
	}
	return events
}
