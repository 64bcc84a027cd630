//go:build linux && !amd64

package seccomp

import "testing"

// archCases is empty: only amd64 has a probe for calls through another ABI.
// TestFilter covers arm32 compat calls on arm64.
var archCases []childCase

// caseSetup is empty for the same reason.
var caseSetup map[string]func(t *testing.T) []string
