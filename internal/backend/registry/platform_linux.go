//go:build linux

package registry

import (
	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/native"
)

// platformEntries are Linux's own backends, after docker.
var platformEntries = []Entry{{Name: native.Name, New: newNative}}

func newNative(c Config) (backend.Backend, error) {
	return native.New(native.Config{Binary: c.env("BOT_BOTTLE_SIDECAR_BINARY"), StateRoot: c.StateRoot(), Log: c.Log}), nil
}
