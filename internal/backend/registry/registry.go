// Package registry says which backends this platform has, in the order the
// CLI prefers them, and builds them. Linux registers docker then native;
// other platforms register docker (and, to come, their own backends in
// their platform file). It never probes: choosing among the registered
// backends is the caller's.
package registry

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/docker"
)

// Config is what every backend is built from.
type Config struct {
	// Home is the bot-bottle home; a backend keeps its records below
	// Home/state and never lists another home's bottles.
	Home string
	// LookupEnv reads the host's environment (BOT_BOTTLE_SIDECAR_BINARY,
	// BOT_BOTTLE_DOCKER_EGRESS_NETWORK).
	LookupEnv func(string) (string, bool)
	Log       *slog.Logger
}

// StateRoot is Home/state, where backends keep their per-bottle files.
func (c Config) StateRoot() string {
	if c.Home == "" {
		return ""
	}
	return filepath.Join(c.Home, "state")
}

func (c Config) env(name string) string {
	if c.LookupEnv == nil {
		return ""
	}
	v, _ := c.LookupEnv(name)
	return v
}

// Factory builds one backend.
type Factory func(Config) (backend.Backend, error)

// Entry is one registered backend.
type Entry struct {
	Name string
	New  Factory
}

// Registry is an ordered set of backends.
type Registry struct {
	entries []Entry
}

// New returns a registry of entries, in preference order; tests use it
// to register a fake.
func New(entries ...Entry) *Registry {
	return &Registry{entries: slices.Clone(entries)}
}

// Platform returns this platform's registry: docker first, then the
// platform's own backends (platform_linux.go, platform_other.go).
func Platform() *Registry {
	return New(append([]Entry{{Name: docker.Name, New: newDocker}}, platformEntries...)...)
}

// Names lists the registered backends in preference order.
func (r *Registry) Names() []string {
	out := make([]string, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.Name
	}
	return out
}

// Default is the preferred backend's name.
func (r *Registry) Default() string {
	if len(r.entries) == 0 {
		return ""
	}
	return r.entries[0].Name
}

// Build returns the backend named name.
func (r *Registry) Build(name string, cfg Config) (backend.Backend, error) {
	for _, e := range r.entries {
		if e.Name == name {
			return e.New(cfg)
		}
	}
	return nil, fmt.Errorf("unknown backend %q; known: %s", name, strings.Join(r.Names(), ", "))
}

func newDocker(c Config) (backend.Backend, error) {
	return docker.New(docker.Config{
		EgressNetwork: c.env("BOT_BOTTLE_DOCKER_EGRESS_NETWORK"),
		// For development: a static build when this binary is not one.
		SidecarBinary: c.env("BOT_BOTTLE_SIDECAR_BINARY"),
		StateRoot:     c.StateRoot(),
		BuildProxy:    c.buildProxy(),
		Log:           c.Log,
	}), nil
}

// buildProxy reads the operator's proxy variables for image builds.
func (c Config) buildProxy() map[string]string {
	out := map[string]string{}
	for _, k := range docker.ProxyBuildArgs {
		if v := c.env(k); v != "" {
			out[k] = v
		}
	}
	return out
}
