package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden file")

func TestMarkdownGolden(t *testing.T) {
	in, err := os.Open(filepath.Join("testdata", "run.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "matrix.md")
	if err := run(in, out, "scripts/escape-matrix.sh", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "matrix.md")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("matrix (-want +got):\n%s", diff)
	}
}

func TestEmptyRunFails(t *testing.T) {
	err := run(strings.NewReader("FAIL\tgithub.com/x [build failed]\n"), filepath.Join(t.TempDir(), "m.md"), "x", time.Now())
	if err == nil || !strings.Contains(err.Error(), "no escape-suite subtest") {
		t.Fatalf("err = %v", err)
	}
}
