package manifest

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Config says where manifests live and how to read the host.
type Config struct {
	// Home is $BOT_BOTTLE_HOME: bottles/ and agents/ live here.
	Home string
	// Cwd is the working directory; its .bot-bottle/agents/ adds agents.
	// Empty means no project agents.
	Cwd string
	// LookupEnv reads the host environment, for presence checks only.
	// Nil means an empty environment.
	LookupEnv func(string) (string, bool)
	// SkillDirs are searched, in order, for an agent's skills.
	SkillDirs []string
}

// Origin says which folder a manifest was found in.
type Origin string

// Origins.
const (
	OriginHome    Origin = "home"
	OriginProject Origin = "project"
)

// Entry is a manifest found by discovery.
type Entry struct {
	Name   string `json:"name"`
	Kind   Kind   `json:"-"`
	File   string `json:"file"`
	Origin Origin `json:"origin"`
}

// Index is the set of manifests visible from a home and working directory.
// It parses lazily and caches what it parsed.
type Index struct {
	cfg     Config
	bottles map[string]Entry
	agents  map[string]Entry
	// diags holds discovery problems (clashes, skipped files).
	diags Diagnostics

	parsed   map[string]*Bottle
	parseDs  map[string]Diagnostics
	resolved map[string]resolution
}

type resolution struct {
	b  *Bottle
	ok bool
	// ds holds every diagnostic found while resolving b (its own, its
	// parents' and its extends problems), replayed on each cache hit.
	ds Diagnostics
}

// BottlesDir and AgentsDir name the manifest folders under a home.
func BottlesDir(home string) string { return filepath.Join(home, "bottles") }

// AgentsDir is where home agents live.
func AgentsDir(home string) string { return filepath.Join(home, "agents") }

// ProjectAgentsDir is where a working tree's agents live.
func ProjectAgentsDir(cwd string) string { return filepath.Join(cwd, ".bot-bottle", "agents") }

// Discover lists the manifests visible from cfg. A missing folder is empty;
// other I/O failures are returned.
func Discover(cfg Config) (*Index, error) {
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = func(string) (string, bool) { return "", false }
	}
	ix := &Index{
		cfg:      cfg,
		bottles:  map[string]Entry{},
		agents:   map[string]Entry{},
		parsed:   map[string]*Bottle{},
		parseDs:  map[string]Diagnostics{},
		resolved: map[string]resolution{},
	}
	bottles, err := ix.scan(BottlesDir(cfg.Home), KindBottle, OriginHome)
	if err != nil {
		return nil, err
	}
	for _, e := range bottles {
		ix.bottles[e.Name] = e
	}
	agents, err := ix.scan(AgentsDir(cfg.Home), KindAgent, OriginHome)
	if err != nil {
		return nil, err
	}
	for _, e := range agents {
		ix.agents[e.Name] = e
	}
	if cfg.Cwd == "" {
		return ix, nil
	}
	projBottles := filepath.Join(cfg.Cwd, ".bot-bottle", "bottles")
	if isDir(projBottles) && !sameDir(projBottles, BottlesDir(cfg.Home)) {
		ix.diags.warnf(Pos{File: projBottles}, "ignored: bottles are read only from %s, so that a cloned repository cannot define its own security boundary", BottlesDir(cfg.Home))
	}
	projAgents := ProjectAgentsDir(cfg.Cwd)
	if sameDir(projAgents, AgentsDir(cfg.Home)) {
		return ix, nil
	}
	agents, err = ix.scan(projAgents, KindAgent, OriginProject)
	if err != nil {
		return nil, err
	}
	for _, e := range agents {
		if prev, clash := ix.agents[e.Name]; clash {
			ix.diags.errorf(Pos{File: e.File, Line: 1, Col: 1}, "agent %q is defined twice: in %s and in %s; rename or remove one", e.Name, prev.File, e.File)
			continue
		}
		ix.agents[e.Name] = e
	}
	return ix, nil
}

func (ix *Index) scan(dir string, kind Kind, origin Origin) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".md") || strings.HasPrefix(name, ".") {
			continue
		}
		file := filepath.Join(dir, name)
		n := stem(name)
		if !ValidName(n) {
			ix.diags.warnf(Pos{File: file}, "skipped: %q is not a valid %s name (lowercase letters, digits and -, starting with a letter); rename the file", n, kind)
			continue
		}
		if de.IsDir() {
			ix.diags.warnf(Pos{File: file}, "skipped: a folder, not a manifest file")
			continue
		}
		out = append(out, Entry{Name: n, Kind: kind, File: file, Origin: origin})
	}
	return out, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// sameDir reports whether a and b name the same existing folder.
func sameDir(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}

// Diagnostics returns the problems found while discovering manifests.
func (ix *Index) Diagnostics() Diagnostics { return slices.Clone(ix.diags) }

// Bottles returns the discovered bottles sorted by name.
func (ix *Index) Bottles() []Entry { return sortedEntries(ix.bottles) }

// Agents returns the discovered agents sorted by name.
func (ix *Index) Agents() []Entry { return sortedEntries(ix.agents) }

// BottleEntry looks a bottle up by name.
func (ix *Index) BottleEntry(name string) (Entry, bool) {
	e, ok := ix.bottles[name]
	return e, ok
}

// AgentEntry looks an agent up by name.
func (ix *Index) AgentEntry(name string) (Entry, bool) {
	e, ok := ix.agents[name]
	return e, ok
}

func sortedEntries(m map[string]Entry) []Entry {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]Entry, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

func names(m map[string]Entry) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
