package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// guarded is a host location a workspace must not expose.
type guarded struct {
	path string
	// what names it for the operator.
	what string
	// within refuses a workspace inside it too: a secret location, not a
	// folder like the home that holds projects.
	within bool
}

// homeSecrets are the folders and files under the operator's home that
// hold credentials.
var homeSecrets = []struct{ rel, what string }{
	{".ssh", "ssh keys"},
	{".gnupg", "GnuPG keys"},
	{".aws", "AWS credentials"},
	{".config/gcloud", "Google Cloud credentials"},
	{".kube", "Kubernetes credentials"},
	{".docker", "Docker credentials"},
	{".netrc", "netrc credentials"},
	{".git-credentials", "git credentials"},
	{".config/gh", "GitHub CLI credentials"},
}

// guards lists what a workspace must not be or contain: the root, the
// operator's home, the bot-bottle home, the system's configuration, the
// credential folders under the home, and the files the bottle's env,
// route tokens and git-gate keys name.
func guards(o Options, named []string) []guarded {
	gs := []guarded{
		{path: "/", what: "the root folder"},
		{path: "/etc", what: "the system configuration", within: true},
	}
	userHome, _ := o.LookupEnv("HOME")
	if userHome == "" {
		userHome, _ = os.UserHomeDir()
	}
	if filepath.IsAbs(userHome) {
		gs = append(gs, guarded{path: userHome, what: "your home folder"})
	}
	if o.Home != "" {
		gs = append(gs, guarded{path: o.Home, what: "the bot-bottle home (every bottle's manifests and state)", within: true})
	}
	if filepath.IsAbs(userHome) {
		for _, s := range homeSecrets {
			gs = append(gs, guarded{path: filepath.Join(userHome, s.rel), what: s.what, within: true})
		}
	}
	// Every account's home and its credentials: a root operator (or one
	// who ran sudo) reads them all, and a folder like /home holds them.
	passwd, _ := os.ReadFile(passwdFile)
	for _, h := range accountHomes(passwd) {
		if h == userHome {
			continue
		}
		gs = append(gs, guarded{path: h, what: "a user's home folder"})
		for _, s := range homeSecrets {
			gs = append(gs, guarded{path: filepath.Join(h, s.rel), what: s.what + " of another user", within: true})
		}
	}
	for _, p := range named {
		gs = append(gs, guarded{path: p, what: "a file the bottle's env, route tokens or git-gate keys name", within: true})
	}
	return gs
}

// passwdFile lists the accounts whose homes guards protects.
var passwdFile = "/etc/passwd"

// accountHomes returns the home folders of passwd(5) data: absolute,
// clean, and neither the root nor a system folder a daemon account points
// at (/bin, /usr/sbin, /var/lib/..., /nonexistent).
func accountHomes(passwd []byte) []string {
	var out []string
	for line := range strings.Lines(string(passwd)) {
		fields := strings.Split(strings.TrimRight(line, "\r\n"), ":")
		if len(fields) < 7 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		h := fields[5]
		personal := within(h, "/home") || within(h, "/root") || within(h, "/Users")
		if !filepath.IsAbs(h) || filepath.Clean(h) != h || h == "/" || !personal {
			continue
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// realPath resolves every symbolic link of p that exists; the missing
// rest is appended as written.
func realPath(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	dir, base := filepath.Split(p)
	if dir == "" || dir == p || base == "" {
		return p
	}
	return filepath.Join(realPath(filepath.Clean(dir)), base)
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// CheckWorkspace refuses a workspace that is or contains the root, the
// operator's home or any guarded location, or lies inside a secret
// location or the bot-bottle home: the agent would read (and in mount
// mode write) it. Symbolic links are resolved first.
func checkWorkspace(ws string, gs []guarded) error {
	w := realPath(ws)
	// The most telling reason first: being a guarded place, then lying
	// in one, then holding one.
	for pass := range 3 {
		for _, g := range gs {
			p := realPath(g.path)
			var how string
			switch {
			case pass == 0 && w == p:
				how = "is"
			case pass == 1 && g.within && within(w, p) && w != p:
				how = "is inside " + p + ","
			case pass == 2 && within(p, w) && w != p:
				how = "contains " + p + ","
			default:
				continue
			}
			return fmt.Errorf("the workspace %s %s %s, which the agent would see: cd into a project folder and start again, or set workspace.mode: none in the bottle", ws, how, g.what)
		}
	}
	return nil
}

// Placeholder is a path absent at start that launch creates so that it
// can be bound read-only: the agent cannot create it instead.
type Placeholder struct {
	// Path is absolute on the host.
	Path string `json:"path"`
	Dir  bool   `json:"dir,omitempty"`
	// Data is a file's content.
	Data string `json:"data,omitempty"`
}

// Protection is what a mounted workspace protects, relative to its root.
type Protection struct {
	// Pinned are folders bound onto themselves: a mount point can be
	// neither renamed nor removed, so the agent cannot swap it for its own.
	Pinned []string
	// ReadOnly are bound read-only.
	ReadOnly []string
	// Placeholders must exist before the bottle starts.
	Placeholders []Placeholder
}

// Paths in a workspace that host tools read as configuration or run,
// protected when present. Each is named in docs/manifests.md with the
// tool that reads it.
var protectIfPresent = []string{
	".gitmodules",
	".envrc",
	".vscode",
	".idea",
	".mcp.json",
	".claude/settings.json",
	".claude/settings.local.json",
	".claude/commands",
	".claude/agents",
	".claude/hooks",
}

// ProtectWorkspace plans the protection of the mounted workspace host: the
// git folder's configuration, hooks and pointers (of the workspace's own
// .git, or of the git folder a .git file points to inside the workspace),
// the project's bot-bottle manifests, and the editor and tool files of
// protectIfPresent. It refuses a protected path that is a symbolic link
// or a hard-linked file, which would let writes land elsewhere.
func ProtectWorkspace(host string) (*Protection, error) {
	st, err := os.Stat(host)
	if err != nil {
		return nil, fmt.Errorf("the workspace %s: %w", host, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("the workspace %s is not a folder", host)
	}
	pl := &planner{root: host, p: &Protection{}}
	pl.git(".git", true)
	for _, sub := range submodulePaths(host) {
		pl.git(sub+"/.git", false)
	}
	pl.add(".bot-bottle", kindDir, "")
	for _, rel := range protectIfPresent {
		pl.add(rel, kindNone, "")
	}
	if pl.err != nil {
		return nil, pl.err
	}
	p := pl.p
	slices.Sort(p.Pinned)
	p.Pinned = slices.Compact(p.Pinned)
	// Parents before children: a child's bind is made on its parent's.
	byDepth := func(a, b string) int {
		if d := strings.Count(a, "/") - strings.Count(b, "/"); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	}
	slices.SortFunc(p.Pinned, byDepth)
	slices.SortFunc(p.ReadOnly, byDepth)
	p.ReadOnly = slices.Compact(p.ReadOnly)
	return p, nil
}

type placeholderKind int

const (
	kindNone placeholderKind = iota // protect only when present
	kindDir
	kindFile
)

type planner struct {
	root string
	p    *Protection
	err  error
}

func (pl *planner) fail(err error) {
	if pl.err == nil {
		pl.err = err
	}
}

// check refuses a symbolic link on the way to rel, and a hard-linked
// file: the bind would protect one name of it only.
func (pl *planner) check(rel string) (fs.FileInfo, bool) {
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := filepath.Join(pl.root, filepath.Join(parts[:i+1]...))
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, false
		}
		if err != nil {
			pl.fail(fmt.Errorf("checking %s: %w", p, err))
			return nil, false
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			pl.fail(fmt.Errorf("%s is a symbolic link, and bot-bottle keeps it read-only in the bottle: replace the link by what it points to, or set workspace.protect: false in the bottle", p))
			return nil, false
		}
		if i == len(parts)-1 {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && st.Mode().IsRegular() && sys.Nlink > 1 {
				pl.fail(fmt.Errorf("%s has %d hard links, and bot-bottle keeps it read-only in the bottle: copy it to a file of its own (cp %s x && mv x %s), or set workspace.protect: false in the bottle", p, sys.Nlink, p, p))
				return nil, false
			}
			return st, true
		}
	}
	return nil, false
}

// add protects rel, creating it as kind when absent, and pins the folders
// on the way to it.
func (pl *planner) add(rel string, kind placeholderKind, data string) {
	_, ok := pl.check(rel)
	if !ok {
		if kind == kindNone || pl.err != nil {
			return
		}
		pl.p.Placeholders = append(pl.p.Placeholders, Placeholder{Path: filepath.Join(pl.root, rel), Dir: kind == kindDir, Data: data})
	}
	for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
		pl.p.Pinned = append(pl.p.Pinned, d)
	}
	pl.p.ReadOnly = append(pl.p.ReadOnly, rel)
}

// git protects the git folder or .git file rel. top is the workspace's own
// .git, which is created as an empty read-only folder when absent: then
// the agent cannot git init a repository whose hooks host git would run.
func (pl *planner) git(rel string, top bool) {
	st, ok := pl.check(rel)
	switch {
	case pl.err != nil:
		return
	case !ok:
		if top {
			pl.add(rel, kindDir, "")
		}
		return
	case st.Mode().IsRegular():
		// A .git file ("gitdir: PATH") of a worktree or submodule: the
		// pointer itself, and the folder it points to when that is in
		// the workspace (elsewhere the bottle cannot write it).
		pl.add(rel, kindNone, "")
		data, err := os.ReadFile(filepath.Join(pl.root, rel))
		if err != nil {
			pl.fail(err)
			return
		}
		target, found := bytes.CutPrefix(bytes.TrimSpace(data), []byte("gitdir:"))
		if !found {
			return
		}
		t := strings.TrimSpace(string(target))
		if !filepath.IsAbs(t) {
			t = filepath.Join(pl.root, filepath.Dir(rel), t)
		}
		t, root := realPath(t), realPath(pl.root)
		if r, err := filepath.Rel(root, t); err == nil && r != "." && within(t, root) && !pl.readOnly(r) {
			if st, ok := pl.check(r); ok && st.IsDir() {
				pl.git(r, false)
			}
		}
		return
	case !st.IsDir():
		return
	}
	// What git reads as configuration or runs, and the pointers that
	// would make it read another folder's: commondir redirects config and
	// hooks, so an absent one is created pointing at the folder itself.
	pl.p.Pinned = append(pl.p.Pinned, rel)
	pl.add(rel+"/config", kindFile, "")
	pl.add(rel+"/config.worktree", kindNone, "")
	pl.add(rel+"/hooks", kindDir, "")
	pl.add(rel+"/commondir", kindFile, ".\n")
	pl.add(rel+"/modules", kindDir, "")
	pl.add(rel+"/worktrees", kindDir, "")
}

// readOnly reports whether rel is already below a read-only path, as a
// submodule's git folder in .git/modules is.
func (pl *planner) readOnly(rel string) bool {
	return slices.ContainsFunc(pl.p.ReadOnly, func(ro string) bool { return within(rel, ro) })
}

// submodulePaths lists the "path =" entries of the workspace's
// .gitmodules that are clean relative paths: host git status looks into
// each submodule through its .git file.
func submodulePaths(root string) []string {
	data, err := os.ReadFile(filepath.Join(root, ".gitmodules"))
	if err != nil {
		return nil
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.TrimSpace(k) != "path" {
			continue
		}
		p := strings.Trim(strings.TrimSpace(v), `"`)
		if p == "" || filepath.IsAbs(p) || filepath.Clean(p) != p || p == "." || strings.HasPrefix(p, "..") || strings.HasPrefix(p, ".git") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Create makes the placeholders that do not exist yet and returns those it
// made, for RemovePlaceholders.
func (p *Protection) Create() ([]Placeholder, error) {
	var made []Placeholder
	for _, ph := range p.Placeholders {
		var err error
		if ph.Dir {
			err = os.Mkdir(ph.Path, 0o755) //nolint:gosec // G301: a folder of the operator's project, as git makes them.
		} else {
			var f *os.File
			if f, err = os.OpenFile(ph.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil { //nolint:gosec // G302: a file of the operator's project, as git makes them.
				_, err = f.WriteString(ph.Data)
				err = errors.Join(err, f.Close())
			}
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return made, fmt.Errorf("creating the protected placeholder %s: %w", ph.Path, err)
		}
		made = append(made, ph)
	}
	return made, nil
}

// RemovePlaceholders removes the placeholders that are as Create left
// them: an empty folder, a file holding its data.
func RemovePlaceholders(phs []Placeholder) error {
	var errs []error
	for _, ph := range slices.Backward(phs) {
		if ph.Dir {
			if err := os.Remove(ph.Path); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
				errs = append(errs, err)
			}
			continue
		}
		st, err := os.Lstat(ph.Path)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if data, err := os.ReadFile(ph.Path); err == nil && string(data) == ph.Data {
			errs = append(errs, ignoreMissing(os.Remove(ph.Path)))
		}
	}
	return errors.Join(errs...)
}

// Summary is the preflight's line on the protected paths.
func (p *Protection) Summary() string {
	return strings.Join(p.ReadOnly, ", ")
}
