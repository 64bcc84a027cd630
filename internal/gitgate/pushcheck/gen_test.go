package pushcheck

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// sourceGen writes deterministic text shaped like Go source: identifiers,
// calls, string literals, comments and numbers, with the words gitleaks'
// rules key on (key, token, api, auth, secret) at the rate real code has
// them, but no credential-shaped values.
type sourceGen struct{ r *rand.Rand }

func newSourceGen(seed uint64) *sourceGen {
	return &sourceGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var genWords = []string{
	"value", "count", "index", "name", "buffer", "reader", "writer", "config", "option", "result",
	"request", "response", "client", "server", "handler", "context", "session", "record", "entry", "item",
	"parse", "build", "check", "update", "create", "delete", "load", "store", "fetch", "apply",
	"status", "error", "message", "header", "body", "path", "file", "line", "offset", "length",
	"cache", "queue", "event", "state", "table", "field", "node", "tree", "graph", "block",
}

// genKeywords are words gitleaks' rules use as keywords; real code has
// them on a few lines in a hundred.
var genKeywords = []string{"key", "token", "api", "auth", "secret", "access", "password"}

func (g *sourceGen) word() string {
	if g.r.IntN(100) == 0 {
		return genKeywords[g.r.IntN(len(genKeywords))]
	}
	return genWords[g.r.IntN(len(genWords))]
}

func (g *sourceGen) ident() string {
	n := 1 + g.r.IntN(3)
	var b strings.Builder
	for i := range n {
		w := g.word()
		if i > 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
	}
	return b.String()
}

func (g *sourceGen) line(indent int) string {
	tabs := strings.Repeat("\t", indent)
	switch g.r.IntN(9) {
	case 0:
		return fmt.Sprintf("%s// %s %s the %s when %s is %s.", tabs, strings.ToUpper(g.word()[:1])+g.word()[1:], g.word(), g.word(), g.ident(), g.word())
	case 1:
		return fmt.Sprintf("%s%s := %s(%s, %q)", tabs, g.ident(), g.ident(), g.ident(), g.word()+" "+g.word())
	case 2:
		return fmt.Sprintf("%sif err := %s.%s(ctx, %d); err != nil {\n%s\treturn fmt.Errorf(\"%s %s: %%w\", err)\n%s}", tabs, g.ident(), g.ident(), g.r.IntN(4096), tabs, g.word(), g.word(), tabs)
	case 3:
		return fmt.Sprintf("%s%s.%s = %s[%d]", tabs, g.ident(), g.ident(), g.ident(), g.r.IntN(64))
	case 4:
		return fmt.Sprintf("%sfor i := range %s {\n%s\t%s += %s(i)\n%s}", tabs, g.ident(), tabs, g.ident(), g.ident(), tabs)
	case 5:
		return fmt.Sprintf("%s%s: %q,", tabs, g.ident(), g.ident())
	case 6:
		return fmt.Sprintf("%slog.Info(%q, %q, %s)", tabs, g.word()+" "+g.word(), g.word(), g.ident())
	case 7:
		if g.r.IntN(8) == 0 {
			// Hex digests and printf verbs, which the decoder looks at.
			return fmt.Sprintf("%s// digest %016x%016x, printed with %%02x", tabs, g.r.Uint64(), g.r.Uint64())
		}
		return ""
	default:
		return fmt.Sprintf("%sreturn %s(%s, %s)", tabs, g.ident(), g.ident(), g.ident())
	}
}

// file returns about size bytes of source.
func (g *sourceGen) file(size int) string {
	return fmt.Sprintf("package %s\n\nimport (\n\t\"context\"\n\t\"fmt\"\n\n\t\"github.com/bot-bottle/bot-bottle/internal/%s_%s\"\n)\n", g.word(), g.word(), g.word()) +
		g.funcs(size)
}

// funcs returns about size bytes of functions.
func (g *sourceGen) funcs(size int) string {
	var b strings.Builder
	for b.Len() < size {
		fmt.Fprintf(&b, "\n// %s %s %s.\nfunc %s(ctx context.Context, %s string) error {\n", strings.ToUpper(g.ident()[:1]), g.word(), g.word(), g.ident(), g.ident())
		for range 4 + g.r.IntN(12) {
			b.WriteString(g.line(1))
			b.WriteByte('\n')
		}
		b.WriteString("\treturn nil\n}\n")
	}
	return b.String()
}
