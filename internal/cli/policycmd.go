package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// policyOptions are the flags of policy.
type policyOptions struct {
	// Apply is the bottle manifest whose policy replaces the running one.
	Apply  string
	Yes    bool
	DryRun bool
}

func newPolicyCmd(env *Env) *cobra.Command {
	opts := &policyOptions{}
	cmd := slugCmd("policy SLUG", "Show or replace the policy a running bottle enforces", func(ctx context.Context, env *Env, be backend.Backend, slug string, rest []string) error {
		if len(rest) > 0 {
			return flagErrorf("policy takes one slug")
		}
		if opts.Apply == "" && (opts.Yes || opts.DryRun) {
			return flagErrorf("--yes and --dry-run go with --apply FILE")
		}
		c, err := env.controlClient(be, slug)
		if err != nil {
			return err
		}
		defer c.Close()
		if opts.Apply != "" {
			return runPolicyApply(ctx, env, c, slug, opts)
		}
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
host variable names, never a secret.

With --apply FILE, replace it live. FILE is a bottle manifest, resolved with
its parents (extends) from your bottles as start resolves a bottle. The
authority it adds (+) and removes (-) is printed and asked about before
anything changes; open connections stay. A credential new to the bottle is
read from the host variable it names; the others stay as the sidecar holds
them.`
	f := cmd.Flags()
	f.StringVar(&opts.Apply, "apply", "", "bottle manifest whose policy replaces the running one")
	f.BoolVarP(&opts.Yes, "yes", "y", false, "apply without asking")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print what --apply would change and change nothing")
	return cmd
}

// runPolicyApply compiles opts.Apply as start compiles a bottle, prints
// what it changes and, once confirmed, puts it in force.
func runPolicyApply(ctx context.Context, env *Env, c *control.Client, slug string, opts *policyOptions) error {
	ios := env.IO
	cur, err := c.Policy(ctx)
	if err != nil {
		return fmt.Errorf("reading the policy of bottle %s: %w", slug, err)
	}
	pol, err := compileFile(env, opts.Apply)
	if err != nil {
		return err
	}
	// The running bottle's identity, whatever the file's name: the
	// sidecar refuses another bottle's policy.
	pol.Bottle = cur.Bottle
	changes := policy.Diff(cur, pol)
	if len(changes) == 0 {
		fmt.Fprintln(ios.Out, "no change")
		return nil
	}
	if err := changes.Write(ios.Out); err != nil {
		return err
	}
	if opts.DryRun {
		fmt.Fprintln(ios.ErrOut, "dry run: nothing was applied")
		return nil
	}
	secrets, err := newSecrets(cur, pol, env.LookupEnv)
	if err != nil {
		return err
	}
	if !opts.Yes {
		if !ios.IsTerminal() {
			return flagErrorf("no terminal to confirm on: pass --yes to apply without asking")
		}
		if ok, err := confirm(ios, "Apply this policy to bottle "+slug+"?"); err != nil || !ok {
			if err == nil {
				fmt.Fprintln(ios.ErrOut, "not applied")
			}
			return err
		}
	}
	a, err := c.Replace(ctx, pol, secrets)
	if err != nil {
		return fmt.Errorf("replacing the policy of bottle %s: %w", slug, err)
	}
	fmt.Fprintf(ios.ErrOut, "applied to bottle %s: policy generation %d, %d route(s), %d repo(s)\n", slug, a.Generation, a.Routes, a.Repos)
	return nil
}

// compileFile resolves the bottle manifest at file and compiles its policy
// as start does.
func compileFile(env *Env, file string) (*policy.Policy, error) {
	if !filepath.IsAbs(file) {
		cwd, err := env.Getwd()
		if err != nil {
			return nil, fmt.Errorf("finding the working directory: %w", err)
		}
		file = filepath.Join(cwd, file)
	}
	ix, err := env.index()
	if err != nil {
		return nil, err
	}
	b, ds := ix.ResolveBottleFile(file)
	if printDiags(env.IO.ErrOut, append(ix.Diagnostics(), ds...)) {
		return nil, SilentError{Code: ExitError}
	}
	pol, err := launch.CompilePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("compiling the policy of %s: %w", file, err)
	}
	return pol, nil
}

// newSecrets reads, from the host, the credentials pol holds and cur does
// not: those the sidecar cannot keep. A token is the same credential when
// it comes from the same host variable, a key when it serves the same
// repository (provider, name and URL), as the sidecar matches them.
//
// Security: a new credential must not be one the running bottle could
// read for itself. Backends hide the host files a bottle's credentials
// name from its start only, so a new git key, whose file or forge key
// start sets up, and a token that names a host file are refused.
func newSecrets(cur, pol *policy.Policy, lookup func(string) (string, bool)) (map[string]secret.Value, error) {
	held := map[string]bool{}
	for _, t := range cur.Tokens {
		held[t.Env] = true
	}
	fresh := &policy.Policy{}
	for _, t := range pol.Tokens {
		if !held[t.Env] {
			fresh.Tokens = append(fresh.Tokens, t)
		}
	}
	if pol.GitGate != nil {
		var have []policy.Repo
		if cur.GitGate != nil {
			have = cur.GitGate.Repos
		}
		for _, r := range pol.GitGate.Repos {
			same := func(o policy.Repo) bool {
				return o.Name == r.Name && o.URL == r.URL && o.Key.Provider == r.Key.Provider
			}
			if !slices.ContainsFunc(have, same) {
				return nil, fmt.Errorf("repository %s needs a git key the bottle does not hold (it is new, or its url or key provider changed), and a key is set up only at start: stop the bottle and start it with this manifest, or keep the repository as it is", r.Name)
			}
		}
	}
	secrets, err := launch.Tokens(fresh, lookup)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, t := range fresh.Tokens {
		if v, _ := lookup(t.Env); launch.NamesHostPath(v) {
			files = append(files, t.Env)
		}
	}
	if len(files) > 0 {
		return nil, fmt.Errorf("the host variables %s name host files, which the running bottle may see: stop the bottle and start it with this manifest", strings.Join(files, ", "))
	}
	return secrets, nil
}
