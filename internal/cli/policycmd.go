package cli

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

func newPolicyCmd(env *Env) *cobra.Command {
	cmd := slugCmd("policy SLUG", "Show the policy a running bottle enforces", func(ctx context.Context, env *Env, be backend.Backend, slug string, rest []string) error {
		if len(rest) > 0 {
			return flagErrorf("policy takes one slug")
		}
		c, err := env.controlClient(be, slug)
		if err != nil {
			return err
		}
		defer c.Close()
		cur, err := c.Policy(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(env.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(cur)
	}, env)
	cmd.Long = `Show the policy a running bottle's sidecar enforces: compiled, as JSON, asked
of the sidecar itself over the bottle's control channel. It holds slot and
host variable names, never a secret.`
	return cmd
}
