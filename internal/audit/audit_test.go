package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type ev struct {
	Host string `json:"host"`
	N    int    `json:"n"`
}

func writeLog(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Write(ev{Host: "a.test", N: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestChainVerifiesAndContinues(t *testing.T) {
	path := writeLog(t, 3)
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ev{Host: "b.test"}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	data, _ := os.ReadFile(path)
	n, head, err := Verify(bytes.NewReader(data))
	if err != nil || n != 4 || head == Genesis {
		t.Fatalf("Verify = %d, %q, %v; want 4 lines", n, head, err)
	}
	if !strings.Contains(string(data), `{"seq":4,"prev":"`) || !strings.Contains(string(data), `"host":"b.test"`) {
		t.Errorf("log lines lack chain fields or event fields:\n%s", data)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	path := writeLog(t, 4)
	orig, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(orig), "\n")
	tests := map[string]string{
		"edit":    strings.Replace(string(orig), `"n":1`, `"n":9`, 1),
		"delete":  lines[0] + lines[2] + lines[3],
		"reorder": lines[0] + lines[2] + lines[1] + lines[3],
		"garbage": lines[0] + "not json\n" + lines[1],
	}
	for name, data := range tests {
		_, _, err := Verify(strings.NewReader(data))
		if _, ok := errors.AsType[*ChainError](err); !ok {
			t.Errorf("%s: Verify = %v, want a ChainError", name, err)
		}
	}
	// Open refuses to extend a broken log.
	if err := os.WriteFile(path, []byte(tests["edit"]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil {
		t.Error("Open of a tampered log succeeded")
	}
}
