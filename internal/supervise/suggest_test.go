package supervise

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		rule, method, host, path string
		want                     *RouteRequest
	}{
		{"host-not-allowed", "get", "API.Example.test.", "/v1/x", &RouteRequest{Host: "api.example.test", Paths: []PathSpec{{"exact", "/v1/x"}}, Methods: []string{"GET"}}},
		{"path-not-allowed", "POST", "api.example.test:8443", "/v2", &RouteRequest{Host: "api.example.test", Paths: []PathSpec{{"exact", "/v2"}}, Methods: []string{"POST"}}},
		{"method-not-allowed", "DELETE", "api.example.test", "/v2", &RouteRequest{Host: "api.example.test", Paths: []PathSpec{{"exact", "/v2"}}, Methods: []string{"DELETE"}}},
		{"host-not-allowed", "CONNECT", "api.example.test", "", &RouteRequest{Host: "api.example.test"}},
		{"ip-literal", "GET", "10.0.0.1", "/", nil},
		{"host-not-allowed", "GET", "10.0.0.1:80", "/", nil},
		{"dlp-outbound", "POST", "api.example.test", "/", nil},
		{"doh", "GET", "dns.example.test", "/dns-query", nil},
		{"git-push-blocked", "POST", "git.example.test", "/r/git-receive-pack", nil},
	} {
		if d := cmp.Diff(tc.want, Suggest(tc.rule, tc.method, tc.host, tc.path)); d != "" {
			t.Errorf("Suggest(%s %s %s %s) (-want +got):\n%s", tc.rule, tc.method, tc.host, tc.path, d)
		}
	}
	if h := Hint("ip-literal", "GET", "10.0.0.1", "/"); h != "" {
		t.Errorf("Hint for an ip literal = %q, want none", h)
	}
	if h := Hint("host-not-allowed", "GET", "a.example.test", "/x"); h == "" {
		t.Error("Hint for a host refusal is empty")
	}
}
