package dlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/secret"
)

const tok = "sk-test-Abc123_xyz789-QQQ"

func scanner() *Scanner {
	return New([]Secret{{Slot: "EGRESS_TOKEN_0", Value: secret.New(tok), Hosts: []string{"api.test"}}})
}

// TestKnownSecretForms checks every encoding of the secret, embedded at
// every alignment inside other text, is found.
func TestKnownSecretForms(t *testing.T) {
	sc := scanner()
	forms := map[string]func(prefix string) string{
		"plain":     func(p string) string { return p + tok + "tail" },
		"base64":    func(p string) string { return base64.StdEncoding.EncodeToString([]byte(p + tok + "tail")) },
		"base64url": func(p string) string { return base64.RawURLEncoding.EncodeToString([]byte(p + tok + "!?")) },
		"hex":       func(p string) string { return hex.EncodeToString([]byte(p + tok)) },
		"HEX":       func(p string) string { return strings.ToUpper(hex.EncodeToString([]byte(p + tok))) },
		"query":     func(p string) string { return url.QueryEscape(p + tok) },
		"path":      func(p string) string { return url.PathEscape(p + tok) },
		"percent":   func(p string) string { return p + percentAll(tok) },
		"dashed":    func(p string) string { return p + strings.Join(strings.Split(tok, ""), "-") },
		"spaced":    func(p string) string { return p + strings.Join(strings.Split(tok, ""), " \n") },
	}
	for name, enc := range forms {
		for _, prefix := range []string{"", "a", "ab", "abc", "abcd", "x=1&y="} {
			text := "before " + enc(prefix) + " after"
			fs := sc.ScanKnown("body", text)
			if len(fs) != 1 || fs[0].Slot != "EGRESS_TOKEN_0" || fs[0].Surface != "body" {
				t.Errorf("%s with prefix %q: findings %+v in %q", name, prefix, fs, text)
			}
		}
	}
}

func TestKnownSecretNoFalsePositive(t *testing.T) {
	sc := scanner()
	for _, text := range []string{"", "sk-test-Abc123", "an ordinary request body", strings.Repeat("A", 4096), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 300))} {
		if fs := sc.ScanKnown("body", text); len(fs) != 0 {
			t.Errorf("ScanKnown(%.40q) = %+v, want nothing", text, fs)
		}
	}
}

func TestFindingHidesSecret(t *testing.T) {
	fs := scanner().ScanKnown("header Authorization", "Bearer "+tok)
	if len(fs) != 1 {
		t.Fatalf("findings = %v", fs)
	}
	f := fs[0]
	if s := strings.Join([]string{f.Detector, f.Rule, f.Slot, f.Surface}, " "); strings.Contains(s, tok) {
		t.Errorf("finding fields show the secret: %s", s)
	}
}

func TestTokenPatterns(t *testing.T) {
	// A GitHub token shape, built at run time so that no scanner flags
	// this source file.
	gh := "ghp_" + strings.Repeat("a1B2c3D4e5", 4)[:36]
	fs, err := ScanPatterns("body", `{"note": "use `+gh+` for the api"}`, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 || fs[0].Detector != TokenPatterns || fs[0].Text() != gh {
		t.Errorf("ScanPatterns found %+v, want the GitHub token", fs)
	}
	fs, _ = ScanPatterns("body", "hello world, nothing secret here", true)
	if len(fs) != 0 {
		t.Errorf("ScanPatterns on plain text = %+v", fs)
	}
	// Decoding finds the token inside base64; plain scanning does not.
	enc := base64.StdEncoding.EncodeToString([]byte("token: " + gh + "\n"))
	if fs, _ := ScanPatterns("body", "data="+enc, true); len(fs) == 0 {
		t.Errorf("decoding ScanPatterns missed a base64-encoded token")
	}
}

func FuzzScanKnown(f *testing.F) {
	sc := scanner()
	f.Add("Bearer " + tok)
	f.Add(base64.StdEncoding.EncodeToString([]byte(tok)))
	f.Fuzz(func(t *testing.T, text string) {
		fs := sc.ScanKnown("body", text)
		if strings.Contains(text, tok) && len(fs) == 0 {
			t.Fatalf("plain secret in %q not found", text)
		}
	})
}
