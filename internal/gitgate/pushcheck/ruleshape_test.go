package pushcheck

import (
	"context"
	"regexp/syntax"
	"slices"
	"testing"
)

func mustParse(t *testing.T, expr string) *syntax.Regexp {
	t.Helper()
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		t.Fatalf("parsing %q: %v", expr, err)
	}
	return re
}

func TestMaxNewlines(t *testing.T) {
	tests := []struct {
		expr string
		want int
	}{
		{`abc`, 0},
		{`a\nb`, 1},
		{`[\s'"]{0,3}`, 3},
		{`\s*`, unbounded},
		{`[^"]{3,}`, unbounded},
		{`.*`, 0},
		{`(?s:.){0,200}`, 200},
		{`a(?:\n|x)?b[\r\n]{1,2}`, 3},
		{`(?:[\r\n]{1,2}.*){1,5}`, 10},
		{`$`, 0},
	}
	for _, tt := range tests {
		if got := maxNewlines(mustParse(t, tt.expr)); got != tt.want {
			t.Errorf("maxNewlines(%q) = %d, want %d", tt.expr, got, tt.want)
		}
	}
}

func TestKeywordFirst(t *testing.T) {
	tests := []struct {
		expr     string
		keywords []string
		want     bool
	}{
		{`\b((?:A3T[A-Z0-9]|AKIA|ASIA)[A-Z2-7]{16})\b`, []string{"a3t", "akia", "asia"}, true},
		{`(?i)[\w.-]{0,50}?(?:access|cred(?:ential|s)|passw(?:or)?d|(?-i:[Aa]pi|API))[ \t]{0,20}[\s'"]{0,3}=\s*(\w{10,})`,
			[]string{"access", "credential", "creds", "password", "passwd", "api"}, true},
		// A keyword the alternation does not cover.
		{`(?i)(?:access|secret)=(\w+)`, []string{"access"}, false},
		// The keyword may follow a newline.
		{`(?i)typeform[\s]{0,3}=\s*(tfp_\w{59})`, []string{"tfp_"}, false},
		{`x?key`, []string{"key"}, true},
		{`\s*key`, []string{"key"}, false},
		{`(?:key)*`, []string{"key"}, false},
		{`(?:key)+z`, []string{"key"}, true},
		{`-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY`, []string{"-----begin"}, true},
	}
	for _, tt := range tests {
		if got := keywordFirst(mustParse(t, tt.expr), tt.keywords); got != tt.want {
			t.Errorf("keywordFirst(%q, %q) = %v, want %v", tt.expr, tt.keywords, got, tt.want)
		}
	}
}

// The scan is fast because the heaviest rules run in windows; a gitleaks
// upgrade that changed their shape would slow it down without failing.
func TestHeavyRulesKeyed(t *testing.T) {
	d := detector(t)
	for _, id := range []string{"generic-api-key", "aws-access-token", "github-pat", "jwt", "vault-service-token", "hashicorp-tf-password"} {
		if !slices.ContainsFunc(d.keyed, func(k keyedRule) bool { return k.id == id }) {
			t.Errorf("rule %s is not keyed: it runs over whole runs of added lines", id)
		}
	}
	if len(d.keyed) < 180 {
		t.Errorf("%d rules are keyed, want most of gitleaks' 222", len(d.keyed))
	}
}

// Lowercasing can change the length of non-ASCII text; keyword lines must
// still be the lines that hold the keywords.
func TestKeywordLinesNonASCII(t *testing.T) {
	d := detector(t)
	text := "İİİİ\nxx ghp_\nÅngström\n\u212Aey\nplain\n"
	lines := d.keywordLines(text, lineStarts(text))
	var got []int
	for i, k := range d.keyed {
		if k.id == "github-pat" {
			got = lines[i]
		}
	}
	if want := []int{1}; !slices.Equal(got, want) {
		t.Errorf("keywordLines(%q) for github-pat = %v, want %v", text, got, want)
	}
	fs, _ := d.scanFile(context.Background(), "a.txt", text, lineStarts(text), []lineRange{{1, 5}})
	if len(fs) != 0 {
		t.Errorf("scanFile(%q) = %+v, want nothing", text, fs)
	}
}
