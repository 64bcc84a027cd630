package testinfra_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductCodeDoesNotImportTestInfra fails when a package outside
// internal/testinfra (and the benchmark programs of bench/) imports one
// below it in non-test code: test fakes and attack probes must never ship
// in the binary.
func TestProductCodeDoesNotImportTestInfra(t *testing.T) {
	const infra = "github.com/bot-bottle/bot-bottle/internal/testinfra"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "github.com/bot-bottle/bot-bottle/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		// bench/ holds the benchmark programs, which never ship either
		// and share the corpora of the benchmarks.
		if len(fields) == 0 || strings.HasPrefix(fields[0], infra) || strings.HasPrefix(fields[0], "github.com/bot-bottle/bot-bottle/bench/") {
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			if imp == infra || strings.HasPrefix(imp, infra+"/") {
				t.Errorf("%s imports %s: product code must not import test infrastructure", fields[0], imp)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("go list named only %d product packages; the rule checked nothing", checked)
	}
}
