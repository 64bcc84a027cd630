// Package testinfra holds what tests need and the product never runs: the
// shared escape suite and its probes and fake upstreams, the SSH git
// upstream, certificates and helpers for backend tests. Product code never
// imports a package below this folder; rule_test.go enforces that.
package testinfra
