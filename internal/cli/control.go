package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/launch"
)

// controlClient returns a client of slug's control channel.
func (e *Env) controlClient(be backend.Backend, slug string) (*control.Client, error) {
	home, err := e.Home()
	if err != nil {
		return nil, err
	}
	token, err := launch.ControlToken(home, slug)
	if err != nil {
		return nil, err
	}
	return control.NewClient(func(ctx context.Context) (net.Conn, error) { return be.DialControl(ctx, slug) }, token), nil
}

// followEvents prints the bottle's audit events as they happen, one JSON
// object a line, until ctx ends or the bottle goes.
func followEvents(ctx context.Context, env *Env, be backend.Backend, slug string, w io.Writer) error {
	c, err := env.controlClient(be, slug)
	if err != nil {
		return err
	}
	defer c.Close()
	enc := json.NewEncoder(w)
	err = c.Events(ctx, 0, true, func(ev control.Event) error { return enc.Encode(ev) })
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("following bottle %s: %w", slug, err)
	}
	return nil
}
