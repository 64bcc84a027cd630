package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWithQuiet(t *testing.T) {
	p, err := Parse([]byte(`{"version": 1, "bottle": "b", "log": 0, "routes": [
	  {"host": "chatgpt.com", "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false}], "tokens": []}`))
	if err != nil {
		t.Fatal(err)
	}
	// A routed host is never quiet: the bottle allows it.
	if err := p.WithQuiet([]string{"chatgpt.com", "ab.chatgpt.com", "ab.chatgpt.com", "a.test"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.test", "ab.chatgpt.com"}, p.Quiet); diff != "" {
		t.Errorf("quiet (-want +got):\n%s", diff)
	}
	if !p.IsQuiet("a.test") || p.IsQuiet("chatgpt.com") {
		t.Errorf("IsQuiet: a.test %v, chatgpt.com %v", p.IsQuiet("a.test"), p.IsQuiet("chatgpt.com"))
	}
	if err := p.WithQuiet([]string{"10.0.0.1"}); err == nil {
		t.Error("an IP literal was taken as a quiet host")
	}
	// The sidecar refuses a document whose quiet list is not hosts. A
	// routed one may be there (a grant routed it since): the route wins.
	for _, q := range []string{`["not a host"]`, `["10.0.0.1"]`} {
		doc := `{"version": 1, "bottle": "b", "log": 0, "quiet": ` + q + `, "routes": [
		  {"host": "chatgpt.com", "dlp": {"outbound": [], "inbound": [], "on_match": "block"}, "git_fetch": false}], "tokens": []}`
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "quiet[0]") {
			t.Errorf("Parse with quiet %s = %v, want an error at quiet[0]", q, err)
		}
	}
}
