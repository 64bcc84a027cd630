package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAuthForms: a document without header (every one written before it
// existed) injects in Authorization with its scheme; one with a header
// injects the bare secret there.
func TestAuthForms(t *testing.T) {
	const doc = `{"version": 1, "bottle": "t", "log": 0,
  "routes": [
    {"host": "a.test", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"}, "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false},
    {"host": "b.test", "auth": {"header": "X-Api-Key", "slot": "EGRESS_TOKEN_0"}, "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false}
  ],
  "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "T", "hosts": ["a.test", "b.test"]}]}`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	type form struct{ Header, Value, Form string }
	var got []form
	for _, r := range p.Routes {
		got = append(got, form{r.Auth.HeaderName(), r.Auth.Value("s"), r.Auth.Form()})
	}
	want := []form{{"Authorization", "Bearer s", "Bearer"}, {"X-Api-Key", "s", "X-Api-Key header"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("auth forms (-want +got):\n%s", d)
	}
}
