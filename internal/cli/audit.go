package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/audit"
)

func newAuditCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Work with hash-chained audit logs",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify FILE",
		Short: "Check that an audit log's hash chain is intact",
		Long: `Check an audit log's hash chain: every line must carry the next sequence
number and the SHA-256 of the line before it. A changed, removed or
reordered line is reported with its line number (exit 1). The head hash
printed on success covers the whole log: keep a copy elsewhere to make the
last line tamper-evident too.`,
		Args: exactArgs(1, "audit verify needs the log file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer func() { _ = f.Close() }()
			n, head, err := audit.Verify(f)
			if err != nil {
				return fmt.Errorf("%s: chain broken at %w", args[0], err)
			}
			fmt.Fprintf(env.IO.Out, "%s: %d event(s), chain intact, head %s\n", args[0], n, head)
			return nil
		},
	})
	return cmd
}
