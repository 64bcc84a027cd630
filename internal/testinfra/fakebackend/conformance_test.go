package fakebackend_test

import (
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/conformance"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/fakebackend"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		New:  func(*testing.T, string) backend.Backend { return fakebackend.New("fake") },
		Spec: conformance.BaseSpec,
		BreakSidecar: func(_ *testing.T, b backend.Backend, slug string) {
			b.(*fakebackend.Backend).BreakSidecar(slug)
		},
		// Nothing of a fake bottle is outside its List.
		Leftovers: func(*testing.T, backend.Backend, string) []string { return nil },
		Lacks: map[string]string{
			conformance.CaseSecondStartElsewhere: "instances share nothing: each is its own in-memory host",
			conformance.CaseDetachedElsewhere:    "instances share nothing: each is its own in-memory host",
			conformance.CaseScratch:              "a fake bottle has no file system",
			conformance.CaseKeptHome:             "a fake bottle has no file system",
		},
	})
}
