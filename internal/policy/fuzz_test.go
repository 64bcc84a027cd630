package policy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func FuzzParse(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, file := range golden {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	valid, _ := json.Marshal(validPolicy())
	f.Add(valid)
	for _, s := range []string{"", "null", "{}", `{"version":1}`, `{"version":1,"bottle":"a","routes":null}`, `{"version":1}{}`, "[[[[[[[[[[]]]]]]]]]]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p1, err := Parse(data)
		if err != nil {
			return
		}
		b1, err := json.MarshalIndent(p1, "", "  ")
		if err != nil {
			t.Fatalf("MarshalIndent(Parse(%q)): %v", data, err)
		}
		p2, err := Parse(b1)
		if err != nil {
			t.Fatalf("Parse(MarshalIndent(Parse(%q))) = %v\n%s", data, err, b1)
		}
		b2, err := json.MarshalIndent(p2, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("re-marshalled policy differs:\n%s\n%s", b1, b2)
		}
		if d := cmp.Diff(p1, p2, cmpopts.IgnoreUnexported(Policy{}, Route{})); d != "" {
			t.Fatalf("re-parsed policy differs (-first +second):\n%s", d)
		}
	})
}

func FuzzAllows(f *testing.F) {
	tt := compileCases[len(compileCases)-1] // matches-regex
	p, err := Compile(&tt.b)
	if err != nil {
		f.Fatal(err)
	}
	open := newRoute(f)
	restricted, ok := p.Lookup("api.github.com")
	if !ok {
		f.Fatal("no route for api.github.com")
	}
	f.Add("GET", "/repos/acme/x/pulls/1", "Accept", "*/*")
	f.Add("post", "/graphql", "Content-Type", "application/json")
	f.Add("PO\u017fT", "/graphql", "content-type", "application/json")
	f.Add("", "", "", "")
	f.Add("GET", "/user/../admin", "X-Github-Api-Version", "2026-01-01")
	f.Fuzz(func(t *testing.T, method, path, name, value string) {
		h := http.Header{name: {value}}
		if !open.Allows(method, path, h) {
			t.Errorf("route without matches: Allows(%q, %q, %v) = false", method, path, h)
		}
		got := restricted.Allows(method, path, h)
		if again := restricted.Allows(strings.ToLower(method), path, h); isASCII(method) && again != got {
			t.Errorf("Allows(%q) = %v but Allows(%q) = %v", method, got, strings.ToLower(method), again)
		}
		if cp, ok := CleanPath(path); ok {
			restricted.Allows(method, cp, h)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b/", "//a//b", "/a/./b/../c", "/..", "/a/%2e%2e/b", "/a%2Fb", "/a%5cb",
		"/a%00", "/a\\b", "/%61%62", "/a%25%32%46", "/a/..;/b", "/caf%c3%a9", "a", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := CleanPath(raw)
		if !ok {
			if got != "" {
				t.Errorf("CleanPath(%q) = %q, false; want an empty path when refused", raw, got)
			}
			return
		}
		switch {
		case !strings.HasPrefix(got, "/"):
			t.Errorf("CleanPath(%q) = %q, which does not start with /", raw, got)
		case strings.Contains(got, "//"):
			t.Errorf("CleanPath(%q) = %q, which holds //", raw, got)
		case strings.Contains(got+"/", "/./") || strings.Contains(got+"/", "/../"):
			t.Errorf("CleanPath(%q) = %q, which holds a dot segment", raw, got)
		case strings.ContainsAny(got, "\\\x00?#"):
			t.Errorf("CleanPath(%q) = %q, which holds a refused byte", raw, got)
		}
		if again, ok := CleanPath(got); again != got || !ok {
			t.Errorf("CleanPath(CleanPath(%q)) = %q, %v; want %q, true", raw, again, ok, got)
		}
	})
}
