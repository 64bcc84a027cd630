// Package gitgate is the sidecar's git server: the agent's git client
// clones, fetches and pushes over smart HTTP to it, and it serves each
// repository from a local mirror refreshed from the upstream before every
// advertisement.
//
// Security: a push is parsed into an in-memory quarantine and put before
// the repository's Checker; nothing reaches the mirror or the upstream
// until the Checker accepts it, and a Checker error refuses the push (fail
// closed). The gate never forwards a ref update the Checker did not
// accept, and it speaks only the smart protocol (no dumb HTTP, no shallow
// or partial clones).
package gitgate

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// DefaultMaxPackBytes is the default Config.MaxPackBytes.
const DefaultMaxPackBytes = 512 << 20

// Audit event values.
const (
	OpFetch        = "fetch"
	OpPush         = "push"
	DecisionAllow  = "allow"
	DecisionRefuse = "refuse"
)

// Config configures a Server.
type Config struct {
	// Dir holds the mirrors, one bare repository per Repo at Dir/NAME.git,
	// created on first use.
	Dir   string
	Repos []Repo
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Audit, when set, is called with the gate's decision once per fetch
	// served or refused, once per ref of every push, and once, with no
	// Ref, when a refresh from the upstream fails. It runs on the serving
	// goroutine.
	Audit func(Event)
	// MaxPackBytes caps the size of a pack an agent pushes, because the
	// quarantine holds it in memory; a larger push is refused with rule
	// "push-too-large". Zero means DefaultMaxPackBytes.
	MaxPackBytes int64
	// Holder, when set, is asked to decide a push refused only for
	// findings marked gitleaks:allow (Rejection.Allowed): the push waits
	// for the operator and goes through if approved. Nil refuses it.
	Holder supervise.Holder
}

// Repo is one repository the agent may reach through the gate.
type Repo struct {
	// Name is the path under which the agent reaches it (URL(Name)).
	Name     string
	Upstream Upstream
	Checker  Checker
}

// Event is one audited decision.
type Event struct {
	Repo string
	// Op is OpFetch or OpPush.
	Op string
	// Ref is the pushed ref; empty for a fetch.
	Ref string
	// Decision is DecisionAllow or DecisionRefuse.
	Decision string
	// Rule is a stable code for a refusal, such as "secret-detected" or
	// "push-too-large"; empty when allowed.
	Rule   string
	Detail string
}

// Server is the gate's smart-HTTP git server. It is safe for concurrent
// use.
type Server struct {
	dir   string
	repos map[string]*mirror
	// locks holds the lock of every mirror, by name, shared with the
	// servers Next derives, so that every server using one folder takes
	// one lock, even for a repository one reload removes and a later one
	// declares again while an older server may still be using it.
	locks   *lockTable
	names   []string
	log     *slog.Logger
	audit   func(Event)
	maxPack int64
	holder  supervise.Holder
}

var _ http.Handler = (*Server)(nil)

// mirror is one repository's local mirror.
type mirror struct {
	Repo
	dir string

	// mu serializes the writers of the mirror (a refresh from the
	// upstream with its advertisement, a push) with each other and with
	// readers (serving a fetch), because go-git writes refs in place and
	// its filesystem storer caches pack indexes. It is shared with the
	// mirror of the same name in the servers Next derives, since they use
	// the same folder.
	mu *sync.RWMutex
	// advertised maps the values recently advertised to fetching clients
	// to when they last were. It is guarded by mu (written only with mu
	// held for writing).
	advertised map[plumbing.Hash]time.Time
}

// New returns a server for cfg's repositories. It creates nothing on disk.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("gitgate: no mirror directory")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	audit := cfg.Audit
	if audit == nil {
		audit = func(Event) {}
	}
	maxPack := cfg.MaxPackBytes
	if maxPack <= 0 {
		maxPack = DefaultMaxPackBytes
	}
	s := &Server{
		dir:     cfg.Dir,
		repos:   make(map[string]*mirror, len(cfg.Repos)),
		log:     log.With("component", "gitgate"),
		audit:   audit,
		maxPack: maxPack,
		holder:  cfg.Holder,
	}
	var errs []error
	for i, r := range cfg.Repos {
		if err := validName(r.Name); err != nil {
			errs = append(errs, fmt.Errorf("repos[%d]: %w", i, err))
			continue
		}
		if r.Upstream == nil || r.Checker == nil {
			errs = append(errs, fmt.Errorf("repos[%d] %q: an Upstream and a Checker are required", i, r.Name))
			continue
		}
		if _, dup := s.repos[r.Name]; dup {
			errs = append(errs, fmt.Errorf("repos[%d]: repository %q declared twice", i, r.Name))
			continue
		}
		s.repos[r.Name] = &mirror{
			Repo:       r,
			dir:        filepath.Join(cfg.Dir, filepath.FromSlash(r.Name)+".git"),
			advertised: map[plumbing.Hash]time.Time{},
		}
		s.names = append(s.names, r.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("gitgate: %w", err)
	}
	slices.Sort(s.names)
	return s.withLocks(&lockTable{m: map[string]*sync.RWMutex{}}), nil
}

// Next returns a server for cfg that takes over s's mirrors: a request
// s is serving finishes under s, and the first request served by the new
// server waits for it when both use one mirror. keep reports whether a
// repository still has the same upstream: its record of recently
// advertised values carries over only then. cfg.Dir must be s's.
func (s *Server) Next(cfg Config, keep func(name string) bool) (*Server, error) {
	if cfg.Dir != s.dir {
		return nil, fmt.Errorf("gitgate: the mirror directory changed from %s to %s", s.dir, cfg.Dir)
	}
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	for name, m := range n.repos {
		if old := s.repos[name]; old != nil && keep(name) {
			m.advertised = old.advertised
		}
	}
	return n.withLocks(s.locks), nil
}

// lockTable hands out one lock per mirror name.
type lockTable struct {
	mu sync.Mutex
	m  map[string]*sync.RWMutex
}

func (t *lockTable) get(name string) *sync.RWMutex {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.m[name]
	if l == nil {
		l = &sync.RWMutex{}
		t.m[name] = l
	}
	return l
}

// withLocks sets the mirrors' locks from t and returns s.
func (s *Server) withLocks(t *lockTable) *Server {
	s.locks = t
	for name, m := range s.repos {
		m.mu = t.get(name)
	}
	return s
}

// validName accepts slash-separated names of letters, digits, '.', '_'
// and '-', because a name becomes both a URL path and a directory.
func validName(name string) error {
	if name == "" || strings.HasSuffix(name, ".git") {
		return fmt.Errorf("invalid repository name %q: empty or ending in .git", name)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg[0] == '.' || strings.ContainsFunc(seg, notNameRune) {
			return fmt.Errorf("invalid repository name %q: use letters, digits, '.', '_', '-' and '/'", name)
		}
	}
	return nil
}

func notNameRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
		return false
	}
	return true
}

// Service names, as in URLs and content types.
const (
	serviceUpload  = "git-upload-pack"
	serviceReceive = "git-receive-pack"
)

// ServeHTTP serves GET NAME/info/refs?service=..., POST NAME/git-upload-pack
// and POST NAME/git-receive-pack, where NAME may end in ".git".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var name, action string
	for _, a := range []string{"/info/refs", "/" + serviceUpload, "/" + serviceReceive} {
		if p, ok := strings.CutSuffix(r.URL.Path, a); ok {
			name, action = strings.TrimSuffix(strings.TrimPrefix(p, "/"), ".git"), a[1:]
			break
		}
	}
	m := s.repos[name]
	switch {
	case action == "":
		httpError(w, http.StatusNotFound, "not found: the git gate serves smart HTTP only (NAME/info/refs, NAME/git-upload-pack, NAME/git-receive-pack)")
		return
	case m == nil:
		httpError(w, http.StatusNotFound, fmt.Sprintf("no repository %q behind the git gate; declared: %s", name, strings.Join(s.names, ", ")))
		return
	}

	if action == "info/refs" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpError(w, http.StatusMethodNotAllowed, "info/refs takes GET")
			return
		}
		svc := r.URL.Query().Get("service")
		if svc != serviceUpload && svc != serviceReceive {
			httpError(w, http.StatusForbidden, fmt.Sprintf("service %q not supported: the git gate speaks smart HTTP only (service=git-upload-pack or git-receive-pack)", svc))
			return
		}
		s.advertise(w, r, m, svc)
		return
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, action+" takes POST")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-"+action+"-request" {
		httpError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q, want application/x-%s-request", ct, action))
		return
	}
	if action == serviceUpload {
		s.uploadPack(w, r, m)
	} else {
		s.receivePack(w, r, m)
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg) //nolint:gosec // G705: text/plain with nosniff is never rendered as HTML
}

// open opens the mirror, creating it when create is set and it does not
// exist yet. Every request opens its own handle, because the filesystem
// storer caches the pack index: a handle kept across requests would not
// see the packs Upstream.Fetch adds behind it.
//
// Preconditions: m.mu is held, for writing when create is set.
func (m *mirror) open(create bool) (*git.Repository, error) {
	repo, err := git.PlainOpen(m.dir)
	if errors.Is(err, git.ErrRepositoryNotExists) && create {
		if _, statErr := os.Stat(m.dir); errors.Is(statErr, fs.ErrNotExist) {
			repo, err = git.PlainInit(m.dir, true)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening mirror %s: %w", m.dir, err)
	}
	return repo, nil
}
