package pushcheck

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect/codec"
)

func TestMaybeEncoded(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"plain words and camelCaseIdentifiers", false},
		{"return fmt.Errorf(\"parse: %w\", err)", false},
		{"x := " + base64.StdEncoding.EncodeToString([]byte("some printable text")), true},
		{"h := \"" + hex.EncodeToString([]byte("printable text for hex")) + "\"", true},
		{"url?q=a%20b", true},
		{"\\u0041\\u0042", true},
		{"U+0041 U+0042", true},
		{"max_connections_per_host", true}, // has "_": the decoder would try it
		{"short_id", false},
	}
	for _, tt := range tests {
		if got := maybeEncoded(tt.s); got != tt.want {
			t.Errorf("maybeEncoded(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// FuzzMaybeEncoded checks that maybeEncoded lets through every line in
// which gitleaks' decoder finds a segment to decode.
func FuzzMaybeEncoded(f *testing.F) {
	f.Add("x = " + base64.StdEncoding.EncodeToString([]byte("aws_access_key_id=x")))
	f.Add(hex.EncodeToString([]byte("0123456789abcdef0123")))
	f.Add("%41%42 and \\u0041 and U+0041 ")
	f.Add("abc-def_ghi/jkl+mno==")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "\n") || len(s) > 512 {
			return
		}
		if _, segs := codec.NewDecoder().Decode(s, nil); len(segs) > 0 && !maybeEncoded(s) {
			t.Errorf("maybeEncoded(%q) = false, but gitleaks decodes %d segment(s) in it", s, len(segs))
		}
	})
}
