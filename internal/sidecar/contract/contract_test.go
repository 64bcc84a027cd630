package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

const testPolicy = `{"version": 1, "bottle": "b", "log": 0, "routes": [{"host": "a.test", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"}, "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false}], "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "A_TOKEN", "hosts": ["a.test"]}]}`

func testDoc() *Document {
	return &Document{
		Version: Version, Bottle: "b", Policy: []byte(testPolicy), CACert: []byte("CERT"), CAKey: secret.New("CA-KEY-SECRET"),
		Secrets:      map[string]secret.Value{"EGRESS_TOKEN_0": secret.New("ROUTE-SECRET")},
		ControlToken: secret.New(strings.Repeat("c", 64)),
		Runtime:      Runtime{Listen: ":9099", Control: "127.0.0.1:9199"},
	}
}

func TestRoundTrip(t *testing.T) {
	data, err := testDoc().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := testDoc()
	want.UpstreamCA = []byte{}
	// The encoder compacts the policy's JSON.
	var compact bytes.Buffer
	if err := json.Compact(&compact, want.Policy); err != nil {
		t.Fatal(err)
	}
	want.Policy = compact.Bytes()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := got.ParsePolicy(); err != nil {
		t.Errorf("ParsePolicy: %v", err)
	}
}

// TestNeverPrinted checks that printing a document, as a log line or an
// error might, shows no secret.
func TestNeverPrinted(t *testing.T) {
	d := testDoc()
	for _, s := range []string{fmt.Sprintf("%v", d), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d)} {
		for _, secretText := range []string{"CA-KEY-SECRET", "ROUTE-SECRET", strings.Repeat("c", 64)} {
			if strings.Contains(s, secretText) {
				t.Errorf("printing the document shows %s:\n%s", secretText, s)
			}
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	ok, _ := testDoc().Marshal()
	cases := map[string]string{
		"another version": strings.Replace(string(ok), `"version":1`, `"version":2`, 1),
		"unknown field":   strings.Replace(string(ok), `"version":1`, `"version":1,"extra":true`, 1),
		"short token":     strings.Replace(string(ok), strings.Repeat("c", 64), "short", 1),
		"no listen":       strings.Replace(string(ok), `"listen":":9099"`, `"listen":""`, 1),
		"not JSON":        "sidecar: ready",
	}
	for name, in := range cases {
		if _, err := Decode(strings.NewReader(in)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	d := testDoc()
	d.Secrets = nil
	if _, err := d.ParsePolicy(); err == nil || !strings.Contains(err.Error(), "A_TOKEN") {
		t.Errorf("a missing slot secret: %v", err)
	}
}

func TestWaitReady(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("some noise\n")
	_ = WriteReady(&b, Ready{Bottle: "b", Egress: "x"})
	r, err := WaitReady(&b, nil)
	if err != nil || r.Bottle != "b" {
		t.Fatalf("WaitReady = %+v, %v", r, err)
	}
	b.Reset()
	_ = WriteFailed(&b, fmt.Errorf("bad policy"))
	if _, err := WaitReady(&b, nil); err == nil || !strings.Contains(err.Error(), "bad policy") {
		t.Errorf("failed line: %v", err)
	}
	if _, err := WaitReady(strings.NewReader(""), func() string { return "last words" }); err == nil || !strings.Contains(err.Error(), "last words") {
		t.Errorf("EOF: %v", err)
	}
}

func TestAgentEnv(t *testing.T) {
	spec := &backend.Spec{User: backend.User{Name: "agent", Home: "/home/agent"}, Env: []backend.EnvVar{
		{Name: "GREETING", Value: secret.New("hi")}, {Name: "HTTPS_PROXY", Value: secret.New("http://evil")},
	}}
	env := AgentEnv(spec, Agent{Proxy: "http://10.0.0.2:9099", CAFile: "/ca.crt"})
	joined := strings.Join(env, "\n")
	for _, want := range []string{"HTTPS_PROXY=http://10.0.0.2:9099", "SSL_CERT_FILE=/ca.crt", "GREETING=hi", EnvGitGate + "=http://_gitgate.local/",
		EnvMCP + "=http://10.0.0.2:9099/mcp", "NO_PROXY=localhost,127.0.0.1,::1,10.0.0.2"} {
		if !strings.Contains(joined, want+"\n") && !strings.HasSuffix(joined, want) {
			t.Errorf("missing %s in\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "evil") {
		t.Errorf("a bottle variable overrode the proxy:\n%s", joined)
	}
}

func TestAgentEnvLoopbackProxy(t *testing.T) {
	env := strings.Join(AgentEnv(&backend.Spec{}, Agent{Proxy: "http://127.0.0.1:41000", CAFile: "/ca.crt"}), "\n")
	for _, want := range []string{"NO_PROXY=" + NoProxy + "\n", EnvMCP + "=http://127.0.0.1:41000/mcp"} {
		if !strings.Contains(env, want) {
			t.Errorf("missing %q in\n%s", want, env)
		}
	}
}

func FuzzDecode(f *testing.F) {
	ok, _ := testDoc().Marshal()
	f.Add(ok)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		if d.Version != Version || d.Listen == "" {
			t.Fatalf("decoded an incomplete document: %+v", d)
		}
		_, _ = d.ParsePolicy()
	})
}
