package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// saveGrant writes p's granted route into the manifest file of the
// bottle it was granted in, validated as a bottle first: the next start
// of the agent gets it too. The grant in force does not depend on it.
func saveGrant(env *Env, p supervise.Proposal) (string, error) {
	if p.Kind != supervise.KindRoute || p.Route == nil || !p.Status.Granted() {
		return "", errors.New("only an approved route can be saved")
	}
	home, err := env.Home()
	if err != nil {
		return "", err
	}
	rec, err := launch.ReadRecord(home, p.Bottle)
	if err != nil {
		return "", fmt.Errorf("reading bottle %s's record: %w", p.Bottle, err)
	}
	if len(rec.Bottles) != 1 {
		return "", fmt.Errorf("bottle %s runs in %d folded bottles; add the route to the one it belongs in by hand", p.Bottle, len(rec.Bottles))
	}
	ix, err := env.index()
	if err != nil {
		return "", err
	}
	entry, ok := ix.BottleEntry(rec.Bottles[0])
	if !ok {
		return "", fmt.Errorf("bottle %s is no longer among your bottles", rec.Bottles[0])
	}
	data, err := os.ReadFile(entry.File)
	if err != nil {
		return "", err
	}
	m := manifest.RouteMatch{Methods: p.Route.Methods}
	for _, ps := range p.Route.Paths {
		m.Paths = append(m.Paths, manifest.MatchPath{Type: ps.Type, Value: ps.Value})
	}
	out, added, err := manifest.AddRoute(entry.File, data, p.Route.Host, m)
	if err != nil {
		return "", fmt.Errorf("editing %s: %w", entry.File, err)
	}
	if !added {
		return entry.File + " already allows every request to " + p.Route.Host, nil
	}
	// Validated as a bottle file before it replaces the file.
	dir, err := os.MkdirTemp("", "bot-bottle-save-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	tmp := filepath.Join(dir, filepath.Base(entry.File))
	if err := os.WriteFile(tmp, out, 0o600); err != nil { //nolint:gosec // G703: a file in our own temporary folder
		return "", err
	}
	if _, ds := ix.ResolveBottleFile(tmp); ds.HasErrors() {
		return "", fmt.Errorf("the edited %s would not validate, so it is unchanged: %s", entry.File, ds.Errors()[0])
	}
	info, err := os.Stat(entry.File)
	if err != nil {
		return "", err
	}
	next := entry.File + ".bot-bottle-new"
	if err := os.WriteFile(next, out, info.Mode().Perm()); err != nil { //nolint:gosec // G703: beside the bottle file the index found in the operator's bottles
		return "", err
	}
	if err := os.Rename(next, entry.File); err != nil {
		_ = os.Remove(next)
		return "", err
	}
	return "saved the route in " + entry.File, nil
}
