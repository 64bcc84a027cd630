// Package fakebackend is an in-memory backend.Backend for tests of what
// drives backends (the launcher, the CLI's testscripts): bottles are
// goroutines, their commands are interpreted (echo, exit, true, false,
// cat, sleep, printenv), and the control channel is a real
// internal/control handler over net.Pipe. It passes the lifecycle
// conformance suite. It isolates nothing and must never run a real
// agent.
package fakebackend

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// Backend is the fake. It is safe for concurrent use.
type Backend struct {
	name string

	// mu guards the fields below.
	mu       sync.Mutex
	bottles  map[string]*bottle
	specs    []*backend.Spec
	failNext error
}

var _ backend.Backend = (*Backend)(nil)

// New returns an empty fake backend that calls itself name.
func New(name string) *Backend {
	return &Backend{name: name, bottles: map[string]*bottle{}}
}

// bottle is one started fake bottle.
type bottle struct {
	spec    *backend.Spec
	created time.Time
	out     *output
	// stdin feeds the main command; Attach copies its Stdin into it.
	stdin *io.PipeWriter
	// stop closes at Stop; done closes once the main command ended.
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	status   int
	control  *controlService
	server   *http.Server

	// mu guards the fields below.
	mu       sync.Mutex
	owner    int
	sidecarX bool // the sidecar was broken
}

// Name implements backend.Backend.
func (b *Backend) Name() string { return b.name }

// Probe implements backend.Backend.
func (b *Backend) Probe(context.Context) (backend.Features, error) {
	return backend.Features{Runtime: "fake", Isolation: "none (in-memory fake)"}, nil
}

// FailNextStart makes the next Start fail with err, leaving nothing.
func (b *Backend) FailNextStart(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failNext = err
}

// BreakSidecar kills slug's sidecar: List calls the bottle partial and
// DialControl finds nothing.
func (b *Backend) BreakSidecar(slug string) {
	if bt := b.lookup(slug); bt != nil {
		bt.mu.Lock()
		bt.sidecarX = true
		bt.mu.Unlock()
		_ = bt.server.Close()
	}
}

// SetOwner changes the owner pid List reports for slug.
func (b *Backend) SetOwner(slug string, pid int) {
	if bt := b.lookup(slug); bt != nil {
		bt.mu.Lock()
		bt.owner = pid
		bt.mu.Unlock()
	}
}

// Specs returns every spec Start was given, in order, failed ones too.
func (b *Backend) Specs() []*backend.Spec {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*backend.Spec(nil), b.specs...)
}

// Spec returns the last spec Start was given for slug, or nil.
func (b *Backend) Spec(slug string) *backend.Spec {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range slices.Backward(b.specs) {
		if s.Slug == slug {
			return s
		}
	}
	return nil
}

// CurrentPolicy returns the policy slug's sidecar has in force (the
// spec's, or the last one the control channel put in place), or nil.
func (b *Backend) CurrentPolicy(slug string) *policy.Policy {
	bt := b.lookup(slug)
	if bt == nil {
		return nil
	}
	return bt.control.Policy()
}

func (b *Backend) lookup(slug string) *bottle {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bottles[slug]
}

func (b *Backend) get(slug string) (*bottle, error) {
	if bt := b.lookup(slug); bt != nil {
		return bt, nil
	}
	return nil, fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
}

// Start implements backend.Backend. A main command the fake cannot run
// fails the start, as a missing executable fails a real backend's.
func (b *Backend) Start(ctx context.Context, spec *backend.Spec, progress io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cp := *spec
	b.mu.Lock()
	b.specs = append(b.specs, &cp)
	fail := b.failNext
	b.failNext = nil
	if b.bottles[spec.Slug] != nil {
		b.mu.Unlock()
		return fmt.Errorf("bottle %s already exists; stop it first", spec.Slug)
	}
	b.mu.Unlock()
	if fail != nil {
		return fail
	}
	if !known(spec.Command) {
		name := "(none)"
		if len(spec.Command) > 0 {
			name = spec.Command[0]
		}
		return fmt.Errorf("starting the agent: fake: %s: command not found", name)
	}
	svc, err := newControlService(&cp)
	if err != nil {
		return err
	}
	stdinR, stdinW := io.Pipe()
	if cp.Detached && !cp.TTY {
		_ = stdinW.Close() // No one attaches to feed it.
	}
	bt := &bottle{
		spec: &cp, created: time.Now(), out: newOutput(), stdin: stdinW,
		stop: make(chan struct{}), done: make(chan struct{}), control: svc, owner: spec.OwnerPID,
	}
	bt.server = newServer(&cp, bt)
	b.mu.Lock()
	if b.bottles[spec.Slug] != nil {
		b.mu.Unlock()
		return fmt.Errorf("bottle %s already exists; stop it first", spec.Slug)
	}
	b.bottles[spec.Slug] = bt
	b.mu.Unlock()
	if progress != nil {
		fmt.Fprintf(progress, "fake: started bottle %s\n", spec.Slug)
	}
	go func() {
		// The main command outlives Start's ctx: Stop ends it.
		bt.status = run(context.WithoutCancel(ctx), bt.stop, cp.Command, envOf(&cp, nil), stdinR,
			bt.out.writer(streamStdout), bt.out.writer(streamStderr))
		_ = stdinR.Close()
		bt.out.close()
		close(bt.done)
	}()
	return nil
}

// envOf is the environment of a command in the bottle of spec.
func envOf(spec *backend.Spec, extra []string) []string {
	env := make([]string, 0, len(spec.Env)+len(extra))
	for _, v := range spec.Env {
		env = append(env, v.Name+"="+v.Value.Reveal())
	}
	return append(env, extra...)
}

// Stop implements backend.Backend.
func (b *Backend) Stop(_ context.Context, slug string) error {
	b.mu.Lock()
	bt := b.bottles[slug]
	delete(b.bottles, slug)
	b.mu.Unlock()
	if bt == nil {
		return nil
	}
	bt.stopOnce.Do(func() { close(bt.stop) })
	_ = bt.stdin.Close()
	<-bt.done
	_ = bt.server.Close()
	return nil
}

// ended reports whether the main command ended.
func (bt *bottle) ended() bool {
	select {
	case <-bt.done:
		return true
	default:
		return false
	}
}

// sidecarUp reports whether the sidecar serves: it does until it is
// broken or the main command ends (it serves no one then).
func (bt *bottle) sidecarUp() bool {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	return !bt.sidecarX && !bt.ended()
}

// List implements backend.Backend.
func (b *Backend) List(context.Context) ([]backend.Instance, error) {
	b.mu.Lock()
	bottles := make([]*bottle, 0, len(b.bottles))
	for _, bt := range b.bottles {
		bottles = append(bottles, bt)
	}
	b.mu.Unlock()
	out := make([]backend.Instance, 0, len(bottles))
	for _, bt := range bottles {
		state := backend.StateRunning
		switch {
		case bt.ended():
			state = backend.StateStopped
		case !bt.sidecarUp():
			state = backend.StatePartial
		}
		bt.mu.Lock()
		owner := bt.owner
		bt.mu.Unlock()
		out = append(out, backend.Instance{
			Slug: bt.spec.Slug, Backend: b.name, Agent: bt.spec.Agent, Bottles: bt.spec.Bottles,
			State: state, Created: bt.created, OwnerPID: owner, Detached: bt.spec.Detached,
			Resources: []string{"fake bottle " + bt.spec.Slug},
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}

// Attach implements backend.Backend: it replays the main command's output
// from its start, follows it, and returns its status.
func (b *Backend) Attach(ctx context.Context, slug string, s backend.Stdio) (int, error) {
	bt, err := b.get(slug)
	if err != nil {
		return 0, err
	}
	switch {
	case s.Stdin != nil:
		go func() {
			_, _ = io.Copy(bt.stdin, s.Stdin)
			if !bt.spec.TTY {
				_ = bt.stdin.Close()
			}
		}()
	case !bt.spec.TTY:
		_ = bt.stdin.Close()
	}
	if err := bt.out.follow(ctx, orDiscard(s.Stdout), orDiscard(s.Stderr), bt.spec.TTY || s.TTY); err != nil {
		return 0, err
	}
	select {
	case <-bt.done:
		return bt.status, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Exec implements backend.Backend.
func (b *Backend) Exec(ctx context.Context, slug string, e backend.Exec) (int, error) {
	bt, err := b.get(slug)
	if err != nil {
		return 0, err
	}
	if bt.ended() {
		return 0, fmt.Errorf("bottle %s is not running; 'bot-bottle resume %s' starts it again", slug, slug)
	}
	stdout, stderr := orDiscard(e.Stdout), orDiscard(e.Stderr)
	if e.TTY {
		stderr = stdout
	}
	status := make(chan int, 1)
	go func() { status <- run(ctx, bt.stop, e.Cmd, envOf(bt.spec, e.Env), e.Stdin, stdout, stderr) }()
	select {
	case code := <-status:
		return code, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Logs implements backend.Backend.
func (b *Backend) Logs(_ context.Context, slug string, w io.Writer) error {
	bt, err := b.get(slug)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "== sidecar (fake %s)\nsidecar of %s: serving (fake)\n== agent (fake %s)\n", slug, slug, slug)
	return bt.out.copyAll(w)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Board returns the supervise board of slug's sidecar, where a test
// raises what the agent or the sidecar would (a route request, a hold);
// nil for a bottle without a policy.
func (b *Backend) Board(slug string) *supervise.Board {
	bt := b.lookup(slug)
	if bt == nil {
		return nil
	}
	return bt.control.board
}
