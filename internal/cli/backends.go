package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// newBackend returns the backend named name.
func (e *Env) newBackend(name string) (backend.Backend, error) {
	m, err := e.lifecycle()
	if err != nil {
		return nil, err
	}
	be, err := m.Backend(name)
	if err != nil {
		return nil, flagErrorf("%v", err)
	}
	return be, nil
}

// pickBackend chooses the backend: --backend, then BOT_BOTTLE_BACKEND,
// then docker where a daemon answers, otherwise native (SPEC 5). It
// probes the choice.
func (e *Env) pickBackend(ctx context.Context, flag string) (backend.Backend, backend.Features, error) {
	name := flag
	if name == "" {
		name, _ = e.LookupEnv("BOT_BOTTLE_BACKEND")
	}
	if name == "" {
		// Every backend but the last gets a short probe; the last one's
		// own error says what to do when none is usable.
		names := e.registry().Names()
		for _, n := range names[:len(names)-1] {
			b, err := e.newBackend(n)
			if err != nil {
				return nil, backend.Features{}, err
			}
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			f, err := b.Probe(pctx)
			cancel()
			if err == nil {
				return b, f, nil
			}
			e.Log.Debug("backend is not usable; trying the next", "backend", n, "err", err)
		}
		name = names[len(names)-1]
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

func newBackendsCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backends",
		Short: "Say which backends can run bottles here, and why not",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			type row struct {
				Name     string           `json:"name"`
				Usable   bool             `json:"usable"`
				Reason   string           `json:"reason,omitempty"`
				Features backend.Features `json:"features"`
			}
			var rows []row
			for _, name := range env.registry().Names() {
				b, err := env.newBackend(name)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
				f, err := b.Probe(ctx)
				cancel()
				r := row{Name: name, Usable: err == nil, Features: f}
				if err != nil {
					r.Reason = err.Error()
				}
				rows = append(rows, r)
			}
			ios := env.IO
			if asJSON {
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			for _, r := range rows {
				if !r.Usable {
					fmt.Fprintf(ios.Out, "%-8s not usable: %s\n", r.Name, r.Reason)
					continue
				}
				fmt.Fprintf(ios.Out, "%-8s usable: %s; %s\n", r.Name, r.Features.Runtime, r.Features.Isolation)
				for _, n := range r.Features.Notes {
					fmt.Fprintf(ios.Out, "%-8s   note: %s\n", "", n)
				}
			}
			fmt.Fprintln(ios.Out, "default: --backend, then $BOT_BOTTLE_BACKEND, then docker where a daemon answers, otherwise native")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
