//go:build linux

package cli

import (
	"path/filepath"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/native"
)

// platformBackendNames are Linux's own backends, after docker.
var platformBackendNames = []string{native.Name}

// platformBackend returns the Linux backend named name, or nil.
func (e *Env) platformBackend(name string) backend.Backend {
	if name != native.Name {
		return nil
	}
	bin, _ := e.LookupEnv("BOT_BOTTLE_SIDECAR_BINARY")
	cfg := native.Config{Binary: bin, Log: e.Log}
	if home, err := e.Home(); err == nil {
		cfg.StateRoot = filepath.Join(home, "state")
	}
	return native.New(cfg)
}
