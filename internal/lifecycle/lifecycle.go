// Package lifecycle owns a bottle's life on the host. It starts a prepared
// bottle (state written, deploy keys minted, the backend's Start), attaches
// to it, stops it and retires it (deploy keys revoked, the control token and
// other secrets deleted from its state folder), resumes it from its record,
// tells orphans from live bottles and cleans them up. Every command and the
// native backend's keeper go through it.
//
// It never reads manifests, prompts or parses flags: a bottle arrives as a
// prepared launch.Launch, and questions to the operator are the CLI's.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/registry"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Manager runs the bottles of one bot-bottle home.
type Manager struct {
	// Home is $BOT_BOTTLE_HOME.
	Home string
	// Backends are the platform's backends, in preference order.
	Backends *registry.Registry
	// LookupEnv reads the host's environment: the forge tokens that
	// revoke deploy keys, BOT_BOTTLE_BACKEND, the backends' settings.
	LookupEnv func(string) (string, bool)
	Log       *slog.Logger
	// Notices receives what the operator must read when a bottle is
	// retired (what the agent left in a mounted workspace).
	Notices io.Writer
}

// teardownTimeout bounds removing a bottle once its command has ended or
// the operator interrupted: removal must not hang on a dead daemon.
const teardownTimeout = 2 * time.Minute

func (m *Manager) lookup(name string) (string, bool) {
	if m.LookupEnv == nil {
		return "", false
	}
	return m.LookupEnv(name)
}

func (m *Manager) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

func (m *Manager) notices() io.Writer {
	if m.Notices == nil {
		return io.Discard
	}
	return m.Notices
}

// Backend builds the backend named name.
func (m *Manager) Backend(name string) (backend.Backend, error) {
	return m.Backends.Build(name, registry.Config{Home: m.Home, LookupEnv: m.LookupEnv, Log: m.Log})
}

// BackendOf returns the backend that runs slug: the one its record names,
// else $BOT_BOTTLE_BACKEND, else the platform's first.
func (m *Manager) BackendOf(slug string) (backend.Backend, error) {
	name := ""
	if rec, err := launch.ReadRecord(m.Home, slug); err == nil {
		name = rec.Backend
	}
	if name == "" {
		name, _ = m.lookup("BOT_BOTTLE_BACKEND")
	}
	if name == "" {
		name = m.Backends.Default()
	}
	return m.Backend(name)
}

// Start writes a prepared bottle's state, mints its deploy keys and starts
// it on be. When any step fails, what was made is retired again: no key
// stays on a forge and no token in the state folder.
func (m *Manager) Start(ctx context.Context, be backend.Backend, l *launch.Launch, progress io.Writer) error {
	spec := l.Spec
	if err := l.Write(); err != nil {
		return err
	}
	fail := func(err error) error {
		if rerr := m.Retire(context.WithoutCancel(ctx), spec.Slug); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	if err := l.MintDeployKeys(ctx, m.lookup); err != nil {
		return fail(err)
	}
	if spec.Detached {
		// A detached bottle may end while no CLI runs; its keeper then
		// retires it and needs the tokens that revoke its keys.
		spec.RetireEnv = m.retireEnv(l.Record)
	}
	if err := be.Start(ctx, spec, progress); err != nil {
		return fail(fmt.Errorf("starting bottle %s: %w", spec.Slug, err))
	}
	return nil
}

// retireEnv returns the host variables that revoking rec's deploy keys
// reads.
func (m *Manager) retireEnv(rec launch.Record) []backend.EnvVar {
	var out []backend.EnvVar
	seen := map[string]bool{}
	for _, k := range rec.DeployKeys {
		if seen[k.TokenEnv] {
			continue
		}
		seen[k.TokenEnv] = true
		if v, ok := m.lookup(k.TokenEnv); ok {
			out = append(out, backend.EnvVar{Name: k.TokenEnv, Value: secret.New(v)})
		}
	}
	return out
}

// Run starts a prepared bottle, calls attach to connect the operator to
// its command, and removes the bottle when attach returns (the command
// ended, or ctx did). It returns attach's result. A removal that fails is
// told to Notices, with what to run: the command's status still stands.
func (m *Manager) Run(ctx context.Context, be backend.Backend, l *launch.Launch, progress io.Writer, attach func(context.Context) (int, error)) (int, error) {
	if err := m.Start(ctx, be, l, progress); err != nil {
		return 0, err
	}
	code, err := attach(ctx)
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	if rerr := m.Remove(tctx, be, l.Spec.Slug); rerr != nil {
		fmt.Fprintf(m.notices(), "bot-bottle: %v\n", rerr)
	}
	return code, err
}

// Remove stops slug on be and retires it. It retires even when the stop
// fails: revoking the keys of a bottle that still runs fails closed, and
// cleanup removes what is left.
func (m *Manager) Remove(ctx context.Context, be backend.Backend, slug string) error {
	var serr error
	if err := be.Stop(ctx, slug); err != nil {
		serr = fmt.Errorf("removing bottle %s: %w; run 'bot-bottle cleanup'", slug, err)
	}
	return errors.Join(serr, m.Retire(ctx, slug))
}

// Retire revokes a removed bottle's deploy keys and deletes what must not
// outlive it from its state folder. A key that could not be revoked stays
// in the record for cleanup, and the error names it.
func (m *Manager) Retire(ctx context.Context, slug string) error {
	kerr := launch.RevokeDeployKeys(ctx, m.Home, slug, m.lookup)
	if err := launch.Retire(m.Home, slug); err != nil {
		m.log().Warn("retiring the state folder", "slug", slug, "err", err)
	}
	if rec, err := launch.ReadRecord(m.Home, slug); err == nil && rec.Mounted {
		fmt.Fprint(m.notices(), launch.LeftoverWarning(rec.Cwd))
	}
	if kerr != nil {
		return fmt.Errorf("%w; 'bot-bottle cleanup' tries again", kerr)
	}
	return nil
}
