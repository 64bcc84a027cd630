package manifest

import (
	"strings"
	"testing"
)

func TestAddRoute(t *testing.T) {
	const file = `---
# The bottle's boundary.
agent_provider:
  template: shell   # any CLI
egress:
  routes:
    - host: api.example.test
      matches:
        - paths: [{type: prefix, value: /v1/}]
    - host: open.example.test
---
Body text stays.
`
	m := RouteMatch{Paths: []MatchPath{{"exact", "/v2/x"}}, Methods: []string{"GET"}}
	for _, tc := range []struct {
		name, host string
		added      bool
		want       []string
	}{
		{"wider", "API.example.test", true, []string{"value: /v1/", "{type: exact, value: /v2/x}", "methods: [GET]", "# The bottle's boundary.", "# any CLI", "Body text stays."}},
		{"new host", "new.example.test", true, []string{"- host: new.example.test", "{type: exact, value: /v2/x}"}},
		{"already open", "open.example.test", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, added, err := AddRoute("shell.md", []byte(file), strings.ToLower(tc.host), m)
			if err != nil || added != tc.added {
				t.Fatalf("AddRoute = added %v, %v; want %v", added, err, tc.added)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("the result lacks %q:\n%s", w, out)
				}
			}
			var ds Diagnostics
			if b := ParseBottle("shell", "shell.md", out, &ds); b == nil || ds.HasErrors() {
				t.Errorf("the result does not parse: %v\n%s", ds, out)
			}
		})
	}
	// A file without egress gets one.
	out, added, err := AddRoute("b.md", []byte("---\nagent_provider: {template: shell}\n---\n"), "x.example.test", RouteMatch{Methods: []string{"GET"}})
	if err != nil || !added || !strings.Contains(string(out), "egress:") {
		t.Fatalf("AddRoute to a file without egress = %v, %v:\n%s", added, err, out)
	}
	if _, _, err := AddRoute("b.md", []byte("no frontmatter"), "x.example.test", m); err == nil {
		t.Error("a file without frontmatter was edited")
	}
}

func FuzzAddRoute(f *testing.F) {
	f.Add([]byte("---\negress:\n  routes:\n    - host: a.example.test\n      matches: [{methods: [GET]}]\n---\nbody\n"), "a.example.test")
	f.Add([]byte("---\n---\n"), "b.example.test")
	f.Fuzz(func(t *testing.T, data []byte, host string) {
		out, added, err := AddRoute("f.md", data, host, RouteMatch{Methods: []string{"GET"}})
		if err != nil || !added {
			return
		}
		var ds Diagnostics
		if _, ok := split("f.md", out, &ds); !ok {
			t.Fatalf("AddRoute wrote a file without frontmatter:\n%s", out)
		}
	})
}
