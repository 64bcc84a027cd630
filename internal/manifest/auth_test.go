package manifest

import (
	"net/http"
	"strings"
	"testing"
)

func TestCheckAuthHeader(t *testing.T) {
	tests := []struct {
		name, want, err string
	}{
		{"x-api-key", "X-Api-Key", ""},
		{"X-API-KEY", "X-Api-Key", ""},
		{"api-key", "Api-Key", ""},
		{"x-goog-api-key", "X-Goog-Api-Key", ""},
		{"authorization", "Authorization", ""},
		{"X_Api_Key", "X_api_key", ""},
		{"", "", "is empty"},
		{"x api key", "", "not a valid HTTP header name"},
		{"x-api-key:", "", "not a valid HTTP header name"},
		{":authority", "", "not a valid HTTP header name"},
		{"x-\u212Aey", "", "not a valid HTTP header name"},
		{"Host", "", "names the upstream"},
		{"HOST", "", "names the upstream"},
		{"Content-Length", "", "describes the request body"},
		{"content_type", "", "describes the request body"},
		{"Transfer-Encoding", "", "frames the request"},
		{"Expect", "", "frames the request"},
		{"Connection", "", "hop-by-hop"},
		{"Keep-Alive", "", "hop-by-hop"},
		{"Upgrade", "", "hop-by-hop"},
		{"TE", "", "hop-by-hop"},
		{"Trailer", "", "hop-by-hop"},
		{"HTTP2-Settings", "", "hop-by-hop"},
		{"Proxy-Authorization", "", "hop to the proxy"},
		{"proxy_connection", "", "hop to the proxy"},
		{"Cookie", "", "cookie credentials are not supported"},
		{"Set-Cookie", "", "response header"},
		{"Accept-Encoding", "", "the proxy rewrites it"},
		{"Sec-WebSocket-Key", "", "WebSocket handshake"},
		{"sec-websocket-protocol", "", "WebSocket handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckAuthHeader(tt.name)
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("CheckAuthHeader(%q) = %q, %v, want %q", tt.name, got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("CheckAuthHeader(%q) = %q, %v, want an error containing %q", tt.name, got, err, tt.err)
			case err != nil && !strings.Contains(err.Error(), "x-api-key") && tt.err != "not a valid HTTP header name":
				t.Errorf("CheckAuthHeader(%q) error %q does not say what to write instead", tt.name, err)
			}
		})
	}
}

// FuzzCheckAuthHeader: an accepted name is a canonical HTTP token that is
// accepted again unchanged, and is none of the refused headers.
func FuzzCheckAuthHeader(f *testing.F) {
	for _, s := range []string{"x-api-key", "Authorization", "proxy-authorization", "Host", "X_Api_Key", "content-type", "sec-websocket-key", "a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := CheckAuthHeader(name)
		if err != nil {
			return
		}
		if !tokenRE.MatchString(got) || got != http.CanonicalHeaderKey(got) || !strings.EqualFold(got, name) {
			t.Fatalf("CheckAuthHeader(%q) = %q, which is not %q canonicalised", name, got, name)
		}
		again, err := CheckAuthHeader(got)
		if err != nil || again != got {
			t.Fatalf("CheckAuthHeader(%q) = %q, %v; want it accepted unchanged", got, again, err)
		}
		key := strings.ReplaceAll(strings.ToLower(got), "_", "-")
		if _, bad := authHeaderRefused[key]; bad {
			t.Fatalf("CheckAuthHeader(%q) accepted a refused header", name)
		}
		for _, p := range authHeaderRefusedPrefixes {
			if strings.HasPrefix(key, p.prefix) {
				t.Fatalf("CheckAuthHeader(%q) accepted a header of the refused family %s*", name, p.prefix)
			}
		}
	})
}
