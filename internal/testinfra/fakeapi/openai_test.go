package fakeapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakeapi"
)

// event is a streamed event as a client reads it.
type event struct {
	Type     string          `json:"type"`
	Delta    string          `json:"delta"`
	Item     json.RawMessage `json:"item"`
	Response struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"response"`
	Error struct{ Message string } `json:"error"`
}

type outputItem struct {
	Type      string `json:"type"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	CallID    string `json:"call_id"`
	Arguments string `json:"arguments"`
	Input     string `json:"input"`
	Content   []struct{ Text string }
}

// done is the item of the stream's output_item.done event.
func done(t *testing.T, events []event) outputItem {
	t.Helper()
	for _, e := range events {
		if e.Type == "response.output_item.done" {
			var it outputItem
			if err := json.Unmarshal(e.Item, &it); err != nil {
				t.Fatal(err)
			}
			return it
		}
	}
	t.Fatalf("no response.output_item.done in %+v", events)
	return outputItem{}
}

// postSSE posts body to the fake and reads the server-sent events.
func postSSE(t *testing.T, url, body string) []event {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/responses", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sk-test")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("POST /v1/responses: %s, Content-Type %q", res.Status, ct)
	}
	var events []event
	name := ""
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "event: "); ok {
			name = n
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var e event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatal(err)
			}
			if e.Type != name {
				t.Errorf("event %q carries type %q", name, e.Type)
			}
			events = append(events, e)
		}
	}
	return events
}

func TestOpenAISSE(t *testing.T) {
	api := &fakeapi.OpenAI{Script: func(r *fakeapi.Request) fakeapi.Turn {
		if len(r.ToolResults) == 0 {
			return fakeapi.Turn{Tool: "shell", Input: map[string]any{"command": []string{"ls"}}}
		}
		return fakeapi.Turn{Text: "saw " + r.ToolResults[0]}
	}}
	srv := httptest.NewServer(api)
	defer srv.Close()

	events := postSSE(t, srv.URL, `{"model":"gpt-test","stream":true,"instructions":"Be brief.",
		"tools":[{"type":"function","name":"shell","parameters":{}},{"type":"web_search"}],
		"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"list"}]}]}`)
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added",
		"response.function_call_arguments.delta", "response.function_call_arguments.done",
		"response.output_item.done", "response.completed"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	call := done(t, events)
	if call.Type != "function_call" || call.Name != "shell" || call.Arguments != `{"command":["ls"]}` || call.CallID == "" {
		t.Fatalf("the call = %+v, want shell with the script's input", call)
	}

	// Stateless: the next request holds the whole conversation.
	events = postSSE(t, srv.URL, `{"model":"gpt-test","stream":true,"tools":[{"type":"function","name":"shell"}],"input":[
		{"type":"message","role":"user","content":[{"type":"input_text","text":"list"}]},
		{"type":"function_call","call_id":"`+call.CallID+`","name":"shell","arguments":"{}"},
		{"type":"function_call_output","call_id":"`+call.CallID+`","output":"a.txt"}]}`)
	if it := done(t, events); it.Type != "message" || len(it.Content) != 1 || it.Content[0].Text != "saw a.txt" {
		t.Errorf("the answer = %+v, want the text saw a.txt", it)
	}
	var deltas string
	for _, e := range events {
		if e.Type == "response.output_text.delta" {
			deltas += e.Delta
		}
	}
	if last := events[len(events)-1]; deltas != "saw a.txt" || last.Type != "response.completed" || last.Response.Status != "completed" {
		t.Errorf("deltas %q, last event %+v", deltas, last)
	}

	reqs := api.Requests()
	if len(reqs) != 2 {
		t.Fatalf("recorded %d requests, want 2", len(reqs))
	}
	r := reqs[0]
	if r.Transport != fakeapi.TransportSSE || r.Path != "/v1/responses" || r.Authorization != "Bearer sk-test" ||
		r.Model != "gpt-test" || !r.Stream || r.System != "Be brief." || !cmp.Equal(r.Tools, []string{"shell"}) {
		t.Errorf("first request = %+v", r)
	}
	if diff := cmp.Diff([]string{"a.txt"}, reqs[1].ToolResults); diff != "" {
		t.Errorf("tool results (-want +got):\n%s", diff)
	}
}

// codeModeTools is Codex's tool surface: a namespace holding the exec
// tool, which runs JavaScript calling the tools its description declares.
const codeModeTools = `{"type":"additional_tools","role":"developer","tools":[{"type":"namespace","name":"functions","tools":[
	{"type":"custom","name":"exec","description":"Run JavaScript.\ndeclare const tools: { exec_command(args: {cmd: string}): Promise<unknown>; };\ndeclare const tools: { apply_patch(input: string): Promise<unknown>; };"},
	{"type":"function","name":"wait"}]},
	{"type":"namespace","name":"clock","tools":[{"type":"function","name":"sleep"}]}]}`

func TestOpenAIWebSocket(t *testing.T) {
	api := &fakeapi.OpenAI{Script: func(r *fakeapi.Request) fakeapi.Turn {
		switch len(r.ToolResults) {
		case 0:
			return fakeapi.Turn{Tool: "exec_command", Input: map[string]any{"cmd": "echo hi"}}
		case 1:
			return fakeapi.Turn{Tool: "sleep", Input: map[string]any{"duration_ms": 1}}
		}
		return fakeapi.Turn{Text: "results " + strings.Join(r.ToolResults, ",")}
	}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/responses", //nolint:bodyclose // Dial owns the body
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer sk-ws"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	send := func(msg string) []event {
		t.Helper()
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		var events []event
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var e event
			if err := json.Unmarshal(data, &e); err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
			if e.Type == "response.completed" || e.Type == "error" {
				return events
			}
		}
	}

	// Codex warms the connection up first: no output.
	warm := send(`{"type":"response.create","model":"gpt-test","input":[],"generate":false}`)
	if len(warm) != 3 || warm[2].Type != "response.completed" {
		t.Fatalf("the warm-up = %+v, want created, in_progress, completed", warm)
	}
	// Then only new items, after the previous response.
	events := send(`{"type":"response.create","model":"gpt-test","previous_response_id":"` + warm[2].Response.ID + `","input":[` + codeModeTools + `,
		{"type":"message","role":"user","content":[{"type":"input_text","text":"say hi"}]}]}`)
	call := done(t, events)
	const script = "const r = await tools.exec_command({\"cmd\":\"echo hi\"});\ntext(typeof r === \"string\" ? r : JSON.stringify(r));\n"
	if call.Type != "custom_tool_call" || call.Name != "exec" || call.Input != script {
		t.Fatalf("the call = %+v, want exec with a script calling exec_command", call)
	}
	events = send(`{"type":"response.create","model":"gpt-test","previous_response_id":"` + events[len(events)-1].Response.ID + `","input":[
		{"type":"custom_tool_call_output","call_id":"` + call.CallID + `","output":[{"type":"input_text","text":"Output:\n"},{"type":"input_text","text":"hi"}]}]}`)
	if call := done(t, events); call.Type != "function_call" || call.Namespace != "clock" || call.Name != "sleep" || call.Arguments != `{"duration_ms":1}` {
		t.Fatalf("the second call = %+v, want clock.sleep", call)
	}
	events = send(`{"type":"response.create","model":"gpt-test","previous_response_id":"` + events[len(events)-1].Response.ID + `","input":[
		{"type":"function_call_output","call_id":"x","output":"slept"}]}`)
	if it := done(t, events); it.Type != "message" || it.Content[0].Text != "results Output:\nhi,slept" {
		t.Errorf("the answer = %+v", it)
	}
	if bad := send(`{"type":"response.create","previous_response_id":"resp_nope","input":[]}`); bad[0].Type != "error" || !strings.Contains(bad[0].Error.Message, "resp_nope") {
		t.Errorf("an unknown previous response: %+v, want an error event", bad)
	}
	if bad := send(`{"type":"session.update"}`); bad[0].Type != "error" {
		t.Errorf("a message other than response.create: %+v, want an error event", bad)
	}

	reqs := api.Requests()
	if len(reqs) != 6 {
		t.Fatalf("recorded %d requests, want 6", len(reqs))
	}
	wantTools := []string{"exec", "exec.exec_command", "exec.apply_patch", "wait", "clock.sleep"}
	for i, r := range reqs {
		if r.Transport != fakeapi.TransportWebSocket || r.Authorization != "Bearer sk-ws" || r.Path != "/v1/responses" {
			t.Errorf("request %d = %s %s %q, want a websocket request with the upgrade's credentials", i, r.Transport, r.Path, r.Authorization)
		}
		if i >= 1 && i <= 3 && !cmp.Equal(r.Tools, wantTools) {
			t.Errorf("request %d tools = %q, want %q (kept from the earlier items)", i, r.Tools, wantTools)
		}
	}
}

func TestOpenAIRecordsWhatItDoesNotServe(t *testing.T) {
	api := &fakeapi.OpenAI{NoWebSocket: true}
	srv := httptest.NewServer(api)
	defer srv.Close()
	ctx := t.Context()
	_, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/responses", nil) //nolint:bodyclose // Dial owns the body
	if err == nil || res == nil || res.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("a WebSocket with NoWebSocket: %v, %+v; want 426", err, res)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer sk-m")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v1/models: %s, want 404", res.Status)
	}
	if res := postSSEStatus(t, srv.URL, "{not json"); res != http.StatusBadRequest {
		t.Errorf("bad JSON: %d, want 400", res)
	}
	var got []string
	for _, r := range api.Requests() {
		got = append(got, r.Path+" "+r.Transport+" "+r.Authorization)
	}
	want := []string{"/v1/responses  ", "/v1/models  Bearer sk-m", "/v1/responses sse "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

func postSSEStatus(t *testing.T, url, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/responses", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}
