package corpus

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestCorpora(t *testing.T) {
	if b := Base64(200 << 10); len(b) != 200<<10 || !bytes.Equal(b, Base64(200<<10)) {
		t.Errorf("Base64: %d bytes, or not the same twice", len(b))
	}
	j := ModelJSON(300 << 10)
	if len(j) < 300<<10 || !json.Valid(j) || !bytes.Equal(j, ModelJSON(300<<10)) {
		t.Errorf("ModelJSON: %d bytes, valid %v, or not the same twice", len(j), json.Valid(j))
	}
	if s := Source(256 << 10); len(s) < 256<<10 || !bytes.Contains(s, []byte("func (p *Proxy)")) {
		t.Errorf("Source: %d bytes", len(s))
	}
}
