//go:build !landlocktsync

package landlock

// minABI is the lowest kernel ABI go-landlock enforces: with libpsx (cgo)
// or the Go runtime's all-threads system calls it reaches every thread on
// any Landlock kernel.
const minABI = 1
