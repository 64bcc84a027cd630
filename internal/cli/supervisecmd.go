package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
	"github.com/bot-bottle/bot-bottle/internal/supervise/tui"
)

func newSuperviseCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "supervise",
		Short: "Decide what running bottles ask for: routes, held requests, held pushes",
		Long: `Show and decide the proposals of every running bottle of every backend.

An agent asks for a route over its bottle's MCP server (request_route);
the sidecar holds a request that outbound DLP matched on a route set to
supervise (dlp-hold), and a push whose findings are all marked
gitleaks:allow (gitleaks-allow). Each proposal shows the authority it adds
against the bottle's current policy and the risks the sidecar sees. An
approval is in force at once, without a restart; a proposal nobody decides
expires, refused.

Without a subcommand, open the interactive view. Text the agent wrote is
shown escaped, never interpreted.`,
		Example: "  bot-bottle supervise\n  bot-bottle supervise list\n  bot-bottle supervise approve p-1a2b3c4d --ttl 30m\n  bot-bottle supervise reject p-1a2b3c4d --reason 'use the mirror'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := env.operator()
			if err != nil {
				return err
			}
			return runSuperviseTUI(cmd.Context(), env, op)
		},
	}
	cmd.AddCommand(newSuperviseListCmd(env), newSuperviseApproveCmd(env), newSuperviseRejectCmd(env))
	return cmd
}

// operator is the operator's view of every running bottle's proposals.
func (e *Env) operator() (supervise.Operator, error) {
	if e.Operator != nil {
		return e.Operator, nil
	}
	m, err := e.lifecycle()
	if err != nil {
		return nil, err
	}
	return m.Operator(), nil
}

func newSuperviseListCmd(env *Env) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "list [--json] [--all]",
		Short: "List the pending proposals of every running bottle, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := env.operator()
			if err != nil {
				return err
			}
			ps, err := op.List(cmd.Context())
			if err != nil && len(ps) == 0 {
				return err
			}
			if err != nil {
				fmt.Fprintf(env.IO.ErrOut, "warning: %v\n", err)
			}
			if !all {
				ps = pendingOnly(ps)
			}
			if asJSON {
				if ps == nil {
					ps = []supervise.Proposal{}
				}
				enc := json.NewEncoder(env.IO.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(ps)
			}
			return writeProposals(env.IO.Out, ps, time.Now())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the proposals as JSON")
	cmd.Flags().BoolVar(&all, "all", false, "include the proposals decided recently")
	return cmd
}

func pendingOnly(ps []supervise.Proposal) []supervise.Proposal {
	var out []supervise.Proposal
	for _, p := range ps {
		if p.Status == supervise.StatusPending {
			out = append(out, p)
		}
	}
	return out
}

// writeProposals prints ps as a table, each with its risks and diff
// below. Every text from a bottle is escaped.
func writeProposals(w io.Writer, ps []supervise.Proposal, now time.Time) error {
	if len(ps) == 0 {
		_, err := fmt.Fprintln(w, "no pending proposals")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tBOTTLE\tKIND\tSTATUS\tAGE\tSUMMARY")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", supervise.Escape(p.ID), supervise.Escape(p.Bottle), p.Kind, p.Status, age(now.Sub(p.Created)), supervise.Escape(p.Summary))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range ps {
		fmt.Fprintf(w, "\n%s", supervise.Escape(p.ID))
		if p.Reason != "" {
			fmt.Fprintf(w, ": \"%s\"", supervise.Escape(p.Reason))
		}
		fmt.Fprintln(w)
		for _, r := range p.Risks {
			fmt.Fprintf(w, "  ! %s: %s\n", r.Code, supervise.Escape(r.Text))
		}
		for _, d := range p.Diff {
			fmt.Fprintf(w, "  %s %s\n", d.Op, supervise.Escape(d.Text))
		}
		if p.Status == supervise.StatusPending {
			fmt.Fprintf(w, "  expires in %s\n", age(p.Deadline.Sub(now)))
		}
	}
	return nil
}

func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Truncate(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// operatorName is who decides, for the audit: user@host.
func operatorName(env *Env) string {
	user, _ := env.LookupEnv("USER")
	if user == "" {
		user = fmt.Sprintf("uid%d", os.Getuid())
	}
	host, _ := os.Hostname()
	return user + "@" + host
}

func newSuperviseApproveCmd(env *Env) *cobra.Command {
	var (
		once  bool
		ttl   time.Duration
		uses  int
		notes string
		save  bool
	)
	cmd := &cobra.Command{
		Use:   "approve ID [--once | --ttl DURATION | --uses N] [--notes TEXT] [--save]",
		Short: "Approve a proposal; a route is in force at once",
		Long: `Approve proposal ID of whichever running bottle holds it.

A route grant lasts the bottle's life unless bounded: --once (this request
only), --uses N, --ttl DURATION (both may be given). A held request or push
is released once, whatever the lifetime. The agent reads --notes. --save
also writes a granted route into the bottle's manifest file (checked as a
bottle first), so that the next start has it.`,
		Example: "  bot-bottle supervise approve p-1a2b3c4d\n  bot-bottle supervise approve p-1a2b3c4d --ttl 30m --notes 'for the release only'",
		Args:    exactArgs(1, "approve needs a proposal id; run bot-bottle supervise list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if once && (ttl > 0 || uses > 0) {
				return flagErrorf("--once is one use; it goes with neither --ttl nor --uses")
			}
			if ttl < 0 || uses < 0 {
				return flagErrorf("--ttl and --uses must be positive")
			}
			p, err := decide(cmd.Context(), env, args[0], supervise.Verdict{Approve: true, Notes: notes, Lifetime: supervise.Lifetime{Once: once, TTL: ttl, Uses: uses}})
			if err != nil || !save {
				return err
			}
			msg, err := saveGrant(env, p)
			if err != nil {
				return fmt.Errorf("the grant is in force, but saving it: %w", err)
			}
			fmt.Fprintln(env.IO.ErrOut, msg)
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "allow the request once")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "remove the grant after this long, such as 30m")
	cmd.Flags().IntVar(&uses, "uses", 0, "remove the grant after this many requests")
	cmd.Flags().StringVar(&notes, "notes", "", "a note the agent reads")
	cmd.Flags().BoolVar(&save, "save", false, "also write the granted route into the bottle's manifest file, validated first")
	return cmd
}

func newSuperviseRejectCmd(env *Env) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "reject ID --reason TEXT",
		Short:   "Reject a proposal; the bottle stays as it is",
		Example: "  bot-bottle supervise reject p-1a2b3c4d --reason 'use the internal mirror'",
		Args:    exactArgs(1, "reject needs a proposal id; run bot-bottle supervise list"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return flagErrorf("reject needs --reason TEXT: the agent reads it to know what to do instead")
			}
			_, err := decide(cmd.Context(), env, args[0], supervise.Verdict{Reason: reason})
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the agent (required)")
	return cmd
}

func decide(ctx context.Context, env *Env, id string, v supervise.Verdict) (supervise.Proposal, error) {
	op, err := env.operator()
	if err != nil {
		return supervise.Proposal{}, err
	}
	v.By = operatorName(env)
	p, err := op.Decide(ctx, id, v)
	if err != nil {
		return supervise.Proposal{}, err
	}
	fmt.Fprintf(env.IO.Out, "%s %s: %s\n", supervise.Escape(p.ID), p.Status, supervise.Escape(p.Summary))
	return p, nil
}

func runSuperviseTUI(ctx context.Context, env *Env, op supervise.Operator) error {
	if !env.IO.IsTerminal() {
		return fmt.Errorf("the interactive view needs a terminal; use bot-bottle supervise list, approve and reject in scripts")
	}
	// The view is ours, its bottle text escaped: it draws on the
	// terminal itself, not through the filter of bottle output.
	return tui.Run(ctx, op, tui.Options{By: operatorName(env)})
}
