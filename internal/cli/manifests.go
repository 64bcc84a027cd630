package cli

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// manifestConfig says where this invocation reads manifests from.
func (e *Env) manifestConfig() (manifest.Config, error) {
	home, err := e.Home()
	if err != nil {
		return manifest.Config{}, err
	}
	cwd, err := e.Getwd()
	if err != nil {
		return manifest.Config{}, fmt.Errorf("finding the working directory: %w", err)
	}
	skills := []string{filepath.Join(home, "skills")}
	if uh, err := e.UserHomeDir(); err == nil {
		skills = append(skills, filepath.Join(uh, ".claude", "skills"))
	}
	return manifest.Config{Home: home, Cwd: cwd, LookupEnv: e.LookupEnv, SkillDirs: skills}, nil
}

// index discovers the manifests visible to this invocation.
func (e *Env) index() (*manifest.Index, error) {
	cfg, err := e.manifestConfig()
	if err != nil {
		return nil, err
	}
	ix, err := manifest.Discover(cfg)
	if err != nil {
		return nil, fmt.Errorf("listing manifests: %w", err)
	}
	return ix, nil
}

// printDiags writes one line per diagnostic and reports whether any was an
// error.
func printDiags(w io.Writer, ds manifest.Diagnostics) bool {
	for _, d := range ds.Sort() {
		fmt.Fprintln(w, d)
	}
	return ds.HasErrors()
}
