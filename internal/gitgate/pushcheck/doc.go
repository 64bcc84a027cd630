// Package pushcheck decides on pushes for the git-gate: it refuses refs
// the bottle's policy does not allow (branches, tags, other namespaces),
// commits that change protected paths, pushes over a size limit, and new
// commits that add secrets gitleaks finds, including secrets marked
// gitleaks:allow, which need an operator's approval.
//
// It scans exactly the commits new to the upstream, and only the lines
// they add. It never writes to the repositories it reads, and never puts
// a secret it found into a rejection or a log.
//
// The Checker is built per repository from a validated Config; the
// Detector, which holds gitleaks' rules, is built once and shared.
package pushcheck
