package deploykey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Client talks to one Gitea's API.
type Client struct {
	// API is the base URL, such as https://gitea.example/api/v1 (see
	// APIFor).
	API string
	// Token is a Gitea access token allowed to manage the repository's
	// deploy keys.
	Token secret.Value
	// HTTP is the client to use; nil uses one with a 30s timeout that
	// follows no redirect.
	HTTP *http.Client
}

// defaultHTTP follows no redirect: a redirected POST would come back as
// a GET, and the token has no business on another URL.
var defaultHTTP = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Create registers authorizedKey as a deploy key with write access on
// owner/repo and returns its ID, for Delete.
func (c *Client) Create(ctx context.Context, owner, repo, title, authorizedKey string) (int64, error) {
	body, err := json.Marshal(struct {
		Title    string `json:"title"`
		Key      string `json:"key"`
		ReadOnly bool   `json:"read_only"`
	}{title, authorizedKey, false})
	if err != nil {
		return 0, fmt.Errorf("creating deploy key on %s/%s: %w", owner, repo, err)
	}
	resp, err := c.do(ctx, http.MethodPost, keysPath(owner, repo), body)
	if err != nil {
		return 0, fmt.Errorf("creating deploy key on %s/%s: %w", owner, repo, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("creating deploy key on %s/%s: %w", owner, repo, c.statusError(resp))
	}
	var key struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&key); err != nil {
		return 0, fmt.Errorf("creating deploy key on %s/%s: reading the answer: %w", owner, repo, err)
	}
	if key.ID <= 0 {
		return 0, fmt.Errorf("creating deploy key on %s/%s: the answer has no key id", owner, repo)
	}
	return key.ID, nil
}

// Delete removes deploy key id from owner/repo. A key already gone (404)
// is success.
func (c *Client) Delete(ctx context.Context, owner, repo string, id int64) error {
	path := keysPath(owner, repo) + "/" + strconv.FormatInt(id, 10)
	resp, err := c.do(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return fmt.Errorf("deleting deploy key %d on %s/%s: %w", id, owner, repo, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return nil
	default:
		return fmt.Errorf("deleting deploy key %d on %s/%s: %w", id, owner, repo, c.statusError(resp))
	}
}

func keysPath(owner, repo string) string {
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/keys"
}

// do sends one authenticated request to the API.
func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	if c.API == "" {
		return nil, errors.New("no Gitea API URL")
	}
	if c.Token.IsZero() {
		return nil, errors.New("no Gitea API token")
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.API, "/")+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "token "+c.Token.Reveal())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	// Errors from Do name the method and URL, which hold no secret.
	return hc.Do(req)
}

// statusError names resp's status with a short excerpt of its body and a
// hint where the status has a usual cause.
//
// Security: the token is cut out of the excerpt, in case the server
// echoes the request back.
func (c *Client) statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	excerpt := scrub(string(b), c.Token.Reveal())
	excerpt = strings.Join(strings.Fields(strings.ToValidUTF8(excerpt, "?")), " ")
	if r := []rune(excerpt); len(r) > 200 {
		excerpt = string(r[:200]) + "..."
	}
	msg := "gitea answered " + resp.Status
	if excerpt != "" {
		msg += ": " + excerpt
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (is the token valid, with write:repository scope and admin rights on the repository?)"
	case http.StatusNotFound:
		msg += " (no such repository, or the token cannot see it)"
	}
	return errors.New(msg)
}

// scrub replaces tok in s, and a start of tok that the read limit left at
// the end of s.
func scrub(s, tok string) string {
	if tok == "" {
		return s
	}
	s = strings.ReplaceAll(s, tok, secret.Redacted)
	for i := len(tok) - 1; i >= 4; i-- {
		if strings.HasSuffix(s, tok[:i]) {
			return s[:len(s)-i] + secret.Redacted
		}
	}
	return s
}
