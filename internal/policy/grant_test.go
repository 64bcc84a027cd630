package policy

import (
	"testing"
)

func TestWithGrants(t *testing.T) {
	base := mustParse(t, `{"version":1,"bottle":"b","log":0,"tokens":[{"slot":"EGRESS_TOKEN_1","env":"GH","hosts":["api.example.test"]}],"routes":[
		{"host":"api.example.test","auth":{"scheme":"Bearer","slot":"EGRESS_TOKEN_1"},"matches":[{"paths":[{"type":"prefix","value":"/repos/"}],"methods":["GET"]}],"dlp":{"outbound":[],"inbound":[],"on_match":"block"},"git_fetch":false},
		{"host":"open.example.test","dlp":{"outbound":[],"inbound":[],"on_match":"block"},"git_fetch":false}]}`)
	pol, err := base.WithGrants([]GrantMatch{
		{ID: "p1", Host: "API.example.test", Match: Match{Paths: []PathMatch{{Type: "exact", Value: "/user"}}, Methods: []string{"GET"}}},
		{ID: "p2", Host: "new.example.test", Match: Match{Methods: []string{"POST"}}},
		{ID: "p3", Host: "open.example.test", Match: Match{Methods: []string{"GET"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, method, path string
		ok                 bool
		grant              string
	}{
		{"api.example.test", "GET", "/repos/x", true, ""},
		{"api.example.test", "GET", "/user", true, "p1"},
		{"api.example.test", "POST", "/user", false, ""},
		{"new.example.test", "POST", "/anything", true, "p2"},
		{"new.example.test", "GET", "/anything", false, ""},
		{"open.example.test", "DELETE", "/x", true, ""},
	} {
		rt, found := pol.Lookup(tc.host)
		if !found {
			t.Fatalf("%s: no route", tc.host)
		}
		ok, g := rt.AllowedBy(tc.method, tc.path, nil)
		if ok != tc.ok || g != tc.grant {
			t.Errorf("%s %s %s: allowed %v by %q, want %v by %q", tc.method, tc.host, tc.path, ok, g, tc.ok, tc.grant)
		}
	}
	// The base policy is untouched.
	if _, ok := base.Lookup("new.example.test"); ok {
		t.Error("WithGrants changed the base policy's hosts")
	}
	if rt, _ := base.Lookup("api.example.test"); rt.Allows("GET", "/user", nil) {
		t.Error("WithGrants changed the base policy's route")
	}
	if rt, _ := pol.Lookup("new.example.test"); rt.Auth != nil || len(rt.DLP.Outbound) == 0 {
		t.Errorf("a granted new host has auth %v, dlp %v: want none and the default DLP", rt.Auth, rt.DLP)
	}
	// Grants on top of grants keep the earlier ones' names.
	again, err := pol.WithGrants([]GrantMatch{{ID: "p4", Host: "api.example.test", Match: Match{Methods: []string{"DELETE"}}}})
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := again.Lookup("api.example.test")
	if _, g := rt.AllowedBy("GET", "/user", nil); g != "p1" {
		t.Errorf("after a second WithGrants, GET /user is allowed by %q, want p1", g)
	}
	if _, g := rt.AllowedBy("DELETE", "/z", nil); g != "p4" {
		t.Errorf("DELETE is allowed by %q, want p4", g)
	}
}

func TestWithGrantsRefusesInvalid(t *testing.T) {
	base := mustParse(t, `{"version":1,"bottle":"b","log":0,"tokens":[],"routes":[]}`)
	for _, g := range []GrantMatch{
		{ID: "x", Host: "bad host", Match: Match{}},
		{ID: "x", Host: "10.0.0.1", Match: Match{}},
		{ID: "x", Host: "ok.example.test", Match: Match{Paths: []PathMatch{{Type: "regex", Value: "("}}}},
		{ID: "x", Host: "ok.example.test", Match: Match{Paths: []PathMatch{{Type: "glob", Value: "/x"}}}},
	} {
		if _, err := base.WithGrants([]GrantMatch{g}); err == nil {
			t.Errorf("WithGrants(%+v) = nil error, want refusal", g)
		}
	}
}

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
