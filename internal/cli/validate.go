package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

type validateOptions struct {
	env   *Env
	Paths []string
}

func newValidateCmd(env *Env, runF func(*validateOptions) error) *cobra.Command {
	opts := &validateOptions{env: env}
	return &cobra.Command{
		Use:   "validate [PATH...]",
		Short: "Check manifests and report every problem with its position",
		Long: `Check bottle and agent manifests.

With no PATH, every manifest visible from here is checked: the bottles and
agents of $BOT_BOTTLE_HOME and the agents of ./.bot-bottle/agents/. A PATH
may be a manifest file inside a bottles/ or agents/ folder, such a folder,
or a folder holding bottles/ and agents/ (a home).

Problems are printed as FILE:LINE:COL: message, all of them at once. Secret
values are never needed: an unset token variable is a warning, an unset
${VAR} used in env is an error.

Exit status: 0 when every manifest is valid, 1 otherwise (none found is
not valid).`,
		Example: "  bot-bottle validate\n  bot-bottle validate ~/.bot-bottle/bottles/dev.md",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Paths = args
			if runF != nil {
				return runF(opts)
			}
			return runValidate(opts)
		},
	}
}

func runValidate(opts *validateOptions) error {
	var ds manifest.Diagnostics
	count := 0
	if len(opts.Paths) == 0 {
		ix, err := opts.env.index()
		if err != nil {
			return err
		}
		ds = ix.Validate()
		count = len(ix.Bottles()) + len(ix.Agents())
	}
	for _, p := range opts.Paths {
		pds, n, err := validatePath(opts.env, p)
		if err != nil {
			return err
		}
		ds = append(ds, pds...)
		count += n
	}
	io := opts.env.IO
	if printDiags(io.ErrOut, ds) {
		return SilentError{Code: ExitError}
	}
	if count == 0 {
		if len(opts.Paths) > 0 {
			return fmt.Errorf("no manifest in %s: name manifest files, a bottles/ or agents/ folder, or a home", strings.Join(opts.Paths, ", "))
		}
		home, err := opts.env.Home()
		if err != nil {
			return err
		}
		return fmt.Errorf("no manifests to validate: %s holds no bottles or agents; run bot-bottle init, or name a PATH", home)
	}
	fmt.Fprintf(io.Out, "%d manifest(s) valid\n", count)
	return nil
}

// validatePath checks the manifests at p, which is a manifest file, a
// bottles/ or agents/ folder, or a home holding them.
func validatePath(env *Env, p string) (manifest.Diagnostics, int, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, 0, err
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, FlagError{Err: fmt.Errorf("%s does not exist", p)}
	}
	if err != nil {
		return nil, 0, err
	}
	cfg, err := env.manifestConfig()
	if err != nil {
		return nil, 0, err
	}
	cfg.Cwd = ""
	dir, file := abs, ""
	if !fi.IsDir() {
		dir, file = filepath.Dir(abs), abs
	}
	switch filepath.Base(dir) {
	case "bottles", "agents":
		cfg.Home = filepath.Dir(dir)
	default:
		if file != "" {
			return nil, 0, FlagError{Err: fmt.Errorf("cannot tell whether %s is a bottle or an agent: it must sit in a bottles/ or agents/ folder", p)}
		}
		if !isDirPath(filepath.Join(dir, "bottles")) && !isDirPath(filepath.Join(dir, "agents")) {
			return nil, 0, FlagError{Err: fmt.Errorf("%s holds no bottles/ or agents/ folder", p)}
		}
		cfg.Home = dir
	}
	ix, err := manifest.Discover(cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("listing manifests: %w", err)
	}
	if file == "" {
		if filepath.Base(dir) == "bottles" || filepath.Base(dir) == "agents" {
			return onlyUnder(ix, dir)
		}
		return ix.Validate(), len(ix.Bottles()) + len(ix.Agents()), nil
	}
	name := strings.TrimSuffix(filepath.Base(file), ".md")
	if filepath.Base(dir) == "bottles" {
		if _, ok := ix.BottleEntry(name); !ok {
			return nil, 0, FlagError{Err: fmt.Errorf("%s is not a manifest: bottle files are named NAME.md with NAME made of lowercase letters, digits and -", p)}
		}
		return ix.ValidateBottle(name), 1, nil
	}
	if _, ok := ix.AgentEntry(name); !ok {
		return nil, 0, FlagError{Err: fmt.Errorf("%s is not a manifest: agent files are named NAME.md with NAME made of lowercase letters, digits and -", p)}
	}
	return ix.ValidateAgent(name), 1, nil
}

// onlyUnder validates the manifests of one bottles/ or agents/ folder.
func onlyUnder(ix *manifest.Index, dir string) (manifest.Diagnostics, int, error) {
	ds := ix.Diagnostics()
	n := 0
	if filepath.Base(dir) == "bottles" {
		for _, e := range ix.Bottles() {
			ds = append(ds, ix.ValidateBottle(e.Name)...)
			n++
		}
	} else {
		for _, e := range ix.Agents() {
			ds = append(ds, ix.ValidateAgent(e.Name)...)
			n++
		}
	}
	return ds, n, nil
}

func isDirPath(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
