//go:build !linux

package registry

// platformEntries are this platform's own backends: none yet (the macOS
// backends register here).
var platformEntries []Entry
