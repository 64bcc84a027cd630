// Package corpus makes the request bodies agent CLIs send, for the egress
// benchmarks (bench/egress and the body-scan benchmark): the same bytes
// every run, so that numbers compare.
package corpus

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// rng is xorshift64*: a fixed sequence without a dependency.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

// Base64 is n bytes of base64 text of random bytes, in 76-column lines
// cut at n: an image or a binary file a model request carries.
func Base64(n int) []byte {
	r := rng(0x9e3779b97f4a7c15)
	raw := make([]byte, n*3/4+3)
	for i := range raw {
		raw[i] = byte(r.next() >> 56)
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	b.Grow(n + n/76 + 1)
	for i := 0; b.Len() < n; i += 76 {
		end := min(i+76, len(enc))
		b.WriteString(enc[i:end])
		b.WriteByte('\n')
	}
	return []byte(b.String()[:n])
}

// words are prose the conversation is made of.
var words = strings.Fields(`the agent reads the file and then writes a test for the function that
parses the manifest because the bottle refuses every host without a route so the model asks
for a route before it fetches the documentation of the library it needs and the operator
decides in the terminal while the sidecar keeps the token out of the bottle`)

// snippets are source lines the conversation and Source quote.
var snippets = []string{
	"func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {",
	"\tif err := json.NewDecoder(r.Body).Decode(&req); err != nil {",
	"\t\treturn fmt.Errorf(\"reading the request: %w\", err)",
	"\tfor i, line := range strings.Split(string(data), \"\\n\") {",
	"const apiBase = \"https://api.example.test/v1\"",
	"export async function fetchRoutes(client, opts = {}) {",
	"    const res = await client.get(`/routes?limit=${opts.limit ?? 50}`);",
	"def parse_config(path: str) -> dict[str, Any]:",
	"        raise ValueError(f\"bad key {key!r} in {path}\")",
	"\tkey := os.Getenv(\"API_KEY\") // the sidecar injects the real one",
	"SELECT id, name, created_at FROM bottles WHERE state = 'running' ORDER BY created_at;",
	"\t}",
	"}",
}

func prose(r *rng, n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[r.next()%uint64(len(words))])
		b.WriteByte(' ')
	}
	return b.String()
}

func code(r *rng, n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(snippets[r.next()%uint64(len(snippets))])
		b.WriteByte('\n')
	}
	return b.String()
}

// ModelJSON is a model-API request of about n bytes: a Messages-style
// JSON conversation of prose turns with code blocks, as an agent CLI
// sends on every turn.
func ModelJSON(n int) []byte {
	r := rng(0x2545f4914f6cdd1d)
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	req := struct {
		Model     string `json:"model"`
		MaxTokens int    `json:"max_tokens"`
		System    string `json:"system"`
		Messages  []msg  `json:"messages"`
	}{Model: "claude-sonnet-4-5", MaxTokens: 8192, System: prose(&r, 2000)}
	size := 0
	for size < n {
		role := "user"
		if len(req.Messages)%2 == 1 {
			role = "assistant"
		}
		c := prose(&r, 600) + "\n```go\n" + code(&r, 1200) + "```\n" + prose(&r, 300)
		req.Messages = append(req.Messages, msg{Role: role, Content: c})
		size += len(c) + 40
	}
	out, err := json.Marshal(req)
	if err != nil {
		panic(err)
	}
	return out
}

// Source is about n bytes of source code: a file an agent uploads whole.
func Source(n int) []byte {
	r := rng(0xda942042e4dd58b5)
	return []byte(code(&r, n))
}
