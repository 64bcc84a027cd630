package deploykey_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/deploykey"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

const token = "s3cr3t-t0ken-value"

// request is what the fake Gitea saw.
type request struct {
	Method, Path, Auth, ContentType, Body string
}

// fakeGitea answers every request with status and body, and records it.
func fakeGitea(t *testing.T, status int, body string) (*deploykey.Client, func() []request) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []request
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, request{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c := &deploykey.Client{API: srv.URL + "/api/v1/", Token: secret.New(token), HTTP: srv.Client()}
	return c, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), seen...)
	}
}

func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("error %q holds the token", err)
	}
}

func TestCreate(t *testing.T) {
	c, seen := fakeGitea(t, http.StatusCreated, `{"id": 42, "key": "ssh-ed25519 AAAA", "title": "t", "read_only": false}`)
	id, err := c.Create(t.Context(), "team", "app", "bot-bottle b1", "ssh-ed25519 AAAAkey")
	if err != nil || id != 42 {
		t.Fatalf("Create = %d, %v; want 42", id, err)
	}
	want := []request{{
		Method:      "POST",
		Path:        "/api/v1/repos/team/app/keys",
		Auth:        "token " + token,
		ContentType: "application/json",
		Body:        `{"title":"bot-bottle b1","key":"ssh-ed25519 AAAAkey","read_only":false}`,
	}}
	if diff := cmp.Diff(want, seen()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestCreateErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   []string
	}{
		{"server-error", 500, `{"message":"db down for token ` + token + `"}`, []string{"creating deploy key on team/app", "500 Internal Server Error", "db down for token [redacted]"}},
		{"unprocessable", 422, `{"message":"Key content has been used as non-deploy key"}`, []string{"422", "Key content has been used"}},
		{"unauthorized", 401, `{"message":"token is required"}`, []string{"401", "write:repository"}},
		{"created-without-id", 201, `{}`, []string{"no key id"}},
		{"created-bad-json", 201, `<html>`, []string{"reading the answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeGitea(t, tc.status, tc.body)
			_, err := c.Create(t.Context(), "team", "app", "title", "ssh-ed25519 AAAA")
			if err == nil {
				t.Fatal("Create succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			noToken(t, err)
		})
	}
}

func TestDelete(t *testing.T) {
	for _, status := range []int{http.StatusNoContent, http.StatusNotFound} {
		c, seen := fakeGitea(t, status, "")
		if err := c.Delete(t.Context(), "team", "app", 42); err != nil {
			t.Errorf("Delete answered %d = %v, want success", status, err)
		}
		want := []request{{Method: "DELETE", Path: "/api/v1/repos/team/app/keys/42", Auth: "token " + token}}
		if diff := cmp.Diff(want, seen()); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	}

	c, _ := fakeGitea(t, http.StatusInternalServerError, "boom, token "+token)
	err := c.Delete(t.Context(), "team", "app", 42)
	if err == nil || !strings.Contains(err.Error(), "deleting deploy key 42 on team/app: gitea answered 500 Internal Server Error: boom") {
		t.Errorf("Delete answered 500 = %v, want a loud error", err)
	}
	noToken(t, err)
}

// TestTokenNeverInErrors covers the errors that do not come from a status.
func TestTokenNeverInErrors(t *testing.T) {
	c, _ := fakeGitea(t, 200, "")
	c.API = "http://127.0.0.1:1/api/v1" // nothing listens on port 1
	_, err := c.Create(t.Context(), "team", "app", "t", "k")
	if err == nil {
		t.Error("Create against a closed port succeeded")
	}
	noToken(t, err)
	err = c.Delete(t.Context(), "team", "app", 1)
	if err == nil {
		t.Error("Delete against a closed port succeeded")
	}
	noToken(t, err)

	// A token cut by the read limit is cut out too.
	long := strings.Repeat(" ", 4<<10-5) + token // collapsed, the start of the token would lead
	c, _ = fakeGitea(t, 500, long)
	err = c.Delete(t.Context(), "team", "app", 1)
	noToken(t, err)
	if err != nil && strings.Contains(err.Error(), token[:5]) {
		t.Errorf("error %q holds the start of the token", err)
	}

	empty := &deploykey.Client{API: "https://gitea.example/api/v1"}
	if _, err := empty.Create(t.Context(), "team", "app", "t", "k"); err == nil || !strings.Contains(err.Error(), "no Gitea API token") {
		t.Errorf("Create without a token = %v", err)
	}
}
