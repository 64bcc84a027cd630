package policy

import (
	"net/http"
	"testing"
)

// newRoute returns a prepared route on example.com with these matches.
func newRoute(t testing.TB, ms ...Match) *Route {
	t.Helper()
	p := &Policy{
		Version: Version,
		Bottle:  "test",
		Routes:  []Route{{Host: "example.com", Matches: ms, DLP: DLP{Outbound: []string{}, Inbound: []string{}, OnMatch: "block"}}},
	}
	if err := p.prepare(); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	r, ok := p.Lookup("example.com")
	if !ok {
		t.Fatal("Lookup(example.com) found no route")
	}
	return r
}

func prefix(v string) PathMatch { return PathMatch{Type: "prefix", Value: v} }
func exact(v string) PathMatch  { return PathMatch{Type: "exact", Value: v} }
func regex(v string) PathMatch  { return PathMatch{Type: "regex", Value: v} }

func hdr(name, value, typ string) HeaderMatch {
	return HeaderMatch{Name: name, Value: value, Type: typ}
}

func TestAllows(t *testing.T) {
	getAPI := Match{Paths: []PathMatch{prefix("/api/v1")}, Methods: []string{"GET"}}
	postUpload := Match{Paths: []PathMatch{exact("/upload")}, Methods: []string{"POST", "PUT"}}
	jsonOnly := Match{Headers: []HeaderMatch{hdr("Content-Type", "application/json", "exact")}}
	tests := []struct {
		name    string
		matches []Match
		method  string
		path    string
		header  http.Header
		want    bool
	}{
		// No matches: everything.
		{"none-get", nil, "GET", "/", nil, true},
		{"none-anything", nil, "BREW", "/any/thing", http.Header{"X": {"y"}}, true},
		{"none-empty-path", nil, "DELETE", "", nil, true},

		// Prefix: element-wise.
		{"prefix-self", []Match{{Paths: []PathMatch{prefix("/api/v1")}}}, "GET", "/api/v1", nil, true},
		{"prefix-slash", []Match{{Paths: []PathMatch{prefix("/api/v1")}}}, "GET", "/api/v1/", nil, true},
		{"prefix-child", []Match{{Paths: []PathMatch{prefix("/api/v1")}}}, "GET", "/api/v1/x/y", nil, true},
		{"prefix-not-element", []Match{{Paths: []PathMatch{prefix("/api/v1")}}}, "GET", "/api/v1x", nil, false},
		{"prefix-parent", []Match{{Paths: []PathMatch{prefix("/api/v1")}}}, "GET", "/api", nil, false},
		{"prefix-trailing-value-self", []Match{{Paths: []PathMatch{prefix("/api/v1/")}}}, "GET", "/api/v1", nil, true},
		{"prefix-trailing-value-child", []Match{{Paths: []PathMatch{prefix("/api/v1/")}}}, "GET", "/api/v1/x", nil, true},
		{"prefix-trailing-value-not-element", []Match{{Paths: []PathMatch{prefix("/api/v1/")}}}, "GET", "/api/v1x", nil, false},
		{"prefix-root", []Match{{Paths: []PathMatch{prefix("/")}}}, "GET", "/anything/at/all", nil, true},
		{"prefix-root-self", []Match{{Paths: []PathMatch{prefix("/")}}}, "GET", "/", nil, true},
		{"prefix-root-needs-slash", []Match{{Paths: []PathMatch{prefix("/")}}}, "OPTIONS", "*", nil, false},
		{"prefix-case-sensitive", []Match{{Paths: []PathMatch{prefix("/api")}}}, "GET", "/API", nil, false},

		// Exact.
		{"exact-equal", []Match{{Paths: []PathMatch{exact("/upload")}}}, "GET", "/upload", nil, true},
		{"exact-trailing-slash", []Match{{Paths: []PathMatch{exact("/upload")}}}, "GET", "/upload/", nil, false},
		{"exact-child", []Match{{Paths: []PathMatch{exact("/upload")}}}, "GET", "/upload/x", nil, false},

		// Regex: anchored to the whole path.
		{"regex-full", []Match{{Paths: []PathMatch{regex(`/repos/[^/]+/[^/]+/pulls`)}}}, "GET", "/repos/a/b/pulls", nil, true},
		{"regex-no-suffix", []Match{{Paths: []PathMatch{regex(`/repos/[^/]+/[^/]+/pulls`)}}}, "GET", "/repos/a/b/pulls/1", nil, false},
		{"regex-no-prefix", []Match{{Paths: []PathMatch{regex(`/repos/[^/]+`)}}}, "GET", "/x/repos/a", nil, false},
		{"regex-alternation-anchored", []Match{{Paths: []PathMatch{regex(`/a|/b`)}}}, "GET", "/b/c", nil, false},
		{"regex-alternation-match", []Match{{Paths: []PathMatch{regex(`/a|/b`)}}}, "GET", "/b", nil, true},

		// Paths ORed inside one entry.
		{"paths-or-first", []Match{{Paths: []PathMatch{exact("/a"), prefix("/b")}}}, "GET", "/a", nil, true},
		{"paths-or-second", []Match{{Paths: []PathMatch{exact("/a"), prefix("/b")}}}, "GET", "/b/c", nil, true},
		{"paths-or-neither", []Match{{Paths: []PathMatch{exact("/a"), prefix("/b")}}}, "GET", "/c", nil, false},

		// Methods: ORed, ASCII case-insensitive.
		{"method-listed", []Match{postUpload}, "PUT", "/upload", nil, true},
		{"method-lowercase", []Match{postUpload}, "post", "/upload", nil, true},
		{"method-mixed-case", []Match{postUpload}, "Put", "/upload", nil, true},
		{"method-not-listed", []Match{postUpload}, "GET", "/upload", nil, false},
		{"method-unicode-fold", []Match{postUpload}, "PO\u017fT", "/upload", nil, false},
		{"methods-only-any-path", []Match{{Methods: []string{"GET"}}}, "GET", "/whatever", nil, true},
		{"methods-only-wrong", []Match{{Methods: []string{"GET"}}}, "POST", "/whatever", nil, false},

		// Paths AND methods inside one entry.
		{"and-both", []Match{getAPI}, "GET", "/api/v1/users", nil, true},
		{"and-path-only", []Match{getAPI}, "POST", "/api/v1/users", nil, false},
		{"and-method-only", []Match{getAPI}, "GET", "/api/v2", nil, false},

		// Entries ORed.
		{"or-first", []Match{getAPI, postUpload}, "GET", "/api/v1", nil, true},
		{"or-second", []Match{getAPI, postUpload}, "POST", "/upload", nil, true},
		{"or-crossed", []Match{getAPI, postUpload}, "POST", "/api/v1", nil, false},
		{"or-crossed-2", []Match{getAPI, postUpload}, "GET", "/upload", nil, false},

		// Headers.
		{"header-present", []Match{jsonOnly}, "POST", "/x", http.Header{"Content-Type": {"application/json"}}, true},
		{"header-absent", []Match{jsonOnly}, "POST", "/x", nil, false},
		{"header-other", []Match{jsonOnly}, "POST", "/x", http.Header{"Accept": {"application/json"}}, false},
		{"header-value-case", []Match{jsonOnly}, "POST", "/x", http.Header{"Content-Type": {"Application/JSON"}}, false},
		{"header-name-case", []Match{jsonOnly}, "POST", "/x", http.Header{"content-type": {"application/json"}}, true},
		{"header-name-case-policy", []Match{{Headers: []HeaderMatch{hdr("x-API-version", "2", "exact")}}}, "GET", "/", http.Header{"X-Api-Version": {"2"}}, true},
		{"header-any-value", []Match{jsonOnly}, "POST", "/x", http.Header{"Content-Type": {"text/plain", "application/json"}}, true},
		{"header-exact-whole-value", []Match{jsonOnly}, "POST", "/x", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, false},
		{"header-empty-value", []Match{{Headers: []HeaderMatch{hdr("X-Empty", "", "exact")}}}, "GET", "/", http.Header{"X-Empty": {""}}, true},
		{"header-regex", []Match{{Headers: []HeaderMatch{hdr("Accept", `application/(json|xml)`, "regex")}}}, "GET", "/", http.Header{"Accept": {"application/xml"}}, true},
		{"header-regex-anchored", []Match{{Headers: []HeaderMatch{hdr("Accept", `application/json`, "regex")}}}, "GET", "/", http.Header{"Accept": {"application/json, text/plain"}}, false},
		{"headers-and-both", []Match{{Headers: []HeaderMatch{hdr("A", "1", "exact"), hdr("B", "2", "exact")}}}, "GET", "/", http.Header{"A": {"1"}, "B": {"2"}}, true},
		{"headers-and-one", []Match{{Headers: []HeaderMatch{hdr("A", "1", "exact"), hdr("B", "2", "exact")}}}, "GET", "/", http.Header{"A": {"1"}}, false},
		{"headers-and-path-method", []Match{{Paths: []PathMatch{prefix("/api")}, Methods: []string{"POST"}, Headers: []HeaderMatch{hdr("A", "1", "exact")}}}, "POST", "/api/x", http.Header{"A": {"1"}}, true},
		{"headers-and-path-method-no-header", []Match{{Paths: []PathMatch{prefix("/api")}, Methods: []string{"POST"}, Headers: []HeaderMatch{hdr("A", "1", "exact")}}}, "POST", "/api/x", http.Header{"A": {"2"}}, false},
		{"headers-or-entries", []Match{jsonOnly, getAPI}, "GET", "/api/v1", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRoute(t, tt.matches...)
			if got := r.Allows(tt.method, tt.path, tt.header); got != tt.want {
				t.Errorf("Allows(%q, %q, %v) = %v, want %v", tt.method, tt.path, tt.header, got, tt.want)
			}
		})
	}
}

func TestAllowsUnprepared(t *testing.T) {
	r := &Route{Host: "example.com", Matches: []Match{{Methods: []string{"GET"}}}}
	if r.Allows("GET", "/", nil) {
		t.Error("unprepared route with matches: Allows = true, want false")
	}
	var p Policy
	if _, ok := p.Lookup("example.com"); ok {
		t.Error("unprepared policy: Lookup found a route")
	}
}

func TestLookup(t *testing.T) {
	p := &Policy{Version: Version, Bottle: "test", Routes: []Route{
		{Host: "api.github.com", DLP: DLP{Outbound: []string{}, Inbound: []string{}, OnMatch: "block"}},
		{Host: "kube.example", DLP: DLP{Outbound: []string{}, Inbound: []string{}, OnMatch: "block"}},
	}}
	if err := p.prepare(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want string
	}{
		{"api.github.com", "api.github.com"},
		{"API.GitHub.COM", "api.github.com"},
		{"api.github.com.", "api.github.com"},
		{"api.github.com..", ""},
		{"github.com", ""},
		{"x.api.github.com", ""},
		{"api.github.com:443", ""},
		{"\u212Aube.example", ""}, // Kelvin sign folds to k in Unicode.
		{"", ""},
		{".", ""},
	}
	for _, tt := range tests {
		r, ok := p.Lookup(tt.host)
		got := ""
		if ok {
			got = r.Host
		}
		if got != tt.want {
			t.Errorf("Lookup(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}
