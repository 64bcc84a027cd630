package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// Dialer opens a connection to one bottle's control listener.
type Dialer func(ctx context.Context) (net.Conn, error)

// Client talks to one bottle's sidecar.
type Client struct {
	hc    *http.Client
	token secret.Value
}

// NewClient returns a client that reaches the sidecar through dial.
func NewClient(dial Dialer, token secret.Value) *Client {
	tr := &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	return &Client{hc: &http.Client{Transport: tr}, token: token}
}

// Close releases the client's connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	// The host part is ignored: the dialer knows the bottle.
	req, err := http.NewRequestWithContext(ctx, method, "http://sidecar"+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the sidecar: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		err := fmt.Errorf("sidecar: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusNotFound && strings.HasPrefix(path, PathProposals+"/") {
			err = fmt.Errorf("%w (%s)", supervise.ErrNotFound, strings.TrimSpace(string(msg)))
		}
		return nil, err
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	return json.NewDecoder(resp.Body).Decode(v)
}

// Health asks the sidecar how it is.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.getJSON(ctx, PathHealth, &h)
}

// Policy returns the policy in force.
func (c *Client) Policy(ctx context.Context) (*policy.Policy, error) {
	resp, err := c.do(ctx, http.MethodGet, PathPolicy, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReplacement))
	if err != nil {
		return nil, err
	}
	return policy.Parse(data)
}

// Replace puts pol in force, handing the secrets of its new slots.
func (c *Client) Replace(ctx context.Context, pol *policy.Policy, secrets map[string]secret.Value) (Applied, error) {
	pj, err := json.Marshal(pol)
	if err != nil {
		return Applied{}, err
	}
	rep := Replacement{Policy: pj}
	if len(secrets) > 0 {
		rep.Secrets = map[string]string{}
		for k, v := range secrets {
			rep.Secrets[k] = v.Reveal()
		}
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return Applied{}, err
	}
	resp, err := c.do(ctx, http.MethodPut, PathPolicy, body)
	if err != nil {
		return Applied{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var a Applied
	return a, json.NewDecoder(resp.Body).Decode(&a)
}

// Events calls fn with the last tail events and, when follow, every new
// one until ctx ends or the sidecar goes.
func (c *Client) Events(ctx context.Context, tail int, follow bool, fn func(Event) error) error {
	path := PathEvents + "?tail=" + strconv.Itoa(tail)
	if follow {
		path += "&follow=1"
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var probe struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &probe) == nil && probe.Error != "" {
			return fmt.Errorf("sidecar: %s", probe.Error)
		}
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("reading an event: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return sc.Err()
}

// Proposals returns the bottle's supervise proposals.
func (c *Client) Proposals(ctx context.Context) ([]supervise.Proposal, error) {
	var ps []supervise.Proposal
	return ps, c.getJSON(ctx, PathProposals, &ps)
}

// Decide sends the operator's verdict on proposal id. An id the bottle
// does not hold fails with supervise.ErrNotFound.
func (c *Client) Decide(ctx context.Context, id string, v supervise.Verdict) (supervise.Proposal, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return supervise.Proposal{}, err
	}
	resp, err := c.do(ctx, http.MethodPost, PathProposals+"/"+url.PathEscape(id), body)
	if err != nil {
		return supervise.Proposal{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var p supervise.Proposal
	return p, json.NewDecoder(resp.Body).Decode(&p)
}
