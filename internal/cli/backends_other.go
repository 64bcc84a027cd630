//go:build !linux

package cli

import "github.com/bot-bottle/bot-bottle/internal/backend"

// platformBackendNames are this platform's own backends: none yet (the
// macOS backends will register here).
var platformBackendNames []string

// platformBackend returns nil: docker is the only backend here.
func (e *Env) platformBackend(string) backend.Backend { return nil }
