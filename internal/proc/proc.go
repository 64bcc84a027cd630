// Package proc answers whether a process lives, the one way every part of
// bot-bottle asks it: a zombie (ended, not yet reaped) is not alive.
//
// It never signals, waits for or reaps a process: kill(0) only probes.
package proc
