package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/docker"
	"github.com/bot-bottle/bot-bottle/internal/backend/native"
)

// backendNames lists the backends this build knows, in preference order.
var backendNames = []string{docker.Name, native.Name}

// newBackend returns the backend named name.
func (e *Env) newBackend(name string) (backend.Backend, error) {
	switch name {
	case native.Name:
		bin, _ := e.LookupEnv("BOT_BOTTLE_SIDECAR_BINARY")
		return native.New(native.Config{Binary: bin, Log: e.Log}), nil
	case docker.Name:
		egressNet, _ := e.LookupEnv("BOT_BOTTLE_DOCKER_EGRESS_NETWORK")
		// For development: a static build when this binary is not one.
		bin, _ := e.LookupEnv("BOT_BOTTLE_SIDECAR_BINARY")
		return docker.New(docker.Config{EgressNetwork: egressNet, SidecarBinary: bin, Log: e.Log}), nil
	}
	return nil, flagErrorf("unknown backend %q; known: %s", name, strings.Join(backendNames, ", "))
}

// pickBackend chooses the backend: --backend, then BOT_BOTTLE_BACKEND,
// then docker where a daemon answers. It probes the choice.
func (e *Env) pickBackend(ctx context.Context, flag string) (backend.Backend, backend.Features, error) {
	name := flag
	if name == "" {
		name, _ = e.LookupEnv("BOT_BOTTLE_BACKEND")
	}
	if name == "" {
		name = docker.Name
	}
	b, err := e.newBackend(name)
	if err != nil {
		return nil, backend.Features{}, err
	}
	f, err := b.Probe(ctx)
	if err != nil {
		return nil, f, fmt.Errorf("backend %s is not usable here: %w", name, err)
	}
	return b, f, nil
}
