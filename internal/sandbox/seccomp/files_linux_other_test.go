//go:build linux && !amd64

package seccomp

import "testing"

// legacyCases is empty: only amd64 has the calls without the *at forms.
var legacyCases []childCase

func legacyFilterTests(*testing.T) []filterTest { return nil }
