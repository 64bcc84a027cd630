// Package tui is the operator's interactive view of supervise: the
// pending proposals of every running bottle, a proposal's authority diff
// and risks, and approve, modify, reject. It reads and decides through a
// supervise.Operator only, and shows every text a bottle wrote escaped.
package tui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// Options configure a Model.
type Options struct {
	// By names the operator in decisions (user@host).
	By string
	// Editor is the command that edits a route (default $EDITOR, then vi).
	Editor string
	// Refresh is how often the list is fetched again (default 1s).
	Refresh time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

type mode int

const (
	modeList mode = iota
	modeDetail
	modeLifetime
	modeReason
)

// Model is the Bubble Tea model of the view.
type Model struct {
	op   supervise.Operator
	opts Options

	props  []supervise.Proposal
	cursor int
	mode   mode
	input  string
	// edited is the operator's modified route, when approving one.
	edited *supervise.RouteRequest
	status string
	width  int
	height int
}

// New returns the view over op.
func New(op supervise.Operator, opts Options) *Model {
	if opts.Refresh <= 0 {
		opts.Refresh = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Editor == "" {
		opts.Editor = os.Getenv("EDITOR")
	}
	if opts.Editor == "" {
		opts.Editor = "vi"
	}
	return &Model{op: op, opts: opts, width: 80, height: 24}
}

// Run runs the view on the terminal until the operator quits.
func Run(ctx context.Context, op supervise.Operator, opts Options, progOpts ...tea.ProgramOption) error {
	p := tea.NewProgram(New(op, opts), append([]tea.ProgramOption{tea.WithContext(ctx)}, progOpts...)...)
	_, err := p.Run()
	return err
}

type listedMsg struct {
	props []supervise.Proposal
	err   error
}

type tickMsg struct{}

type decidedMsg struct {
	p   supervise.Proposal
	err error
}

type editedMsg struct {
	route *supervise.RouteRequest
	err   error
}

func (m *Model) list() tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ps, err := m.op.List(ctx)
		return listedMsg{ps, err}
	}
}

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.opts.Refresh, func(time.Time) tea.Msg { return tickMsg{} })
}

// Init fetches the proposals.
func (m *Model) Init() tea.Cmd { return tea.Batch(m.list(), m.tick()) }

// shown orders the proposals: pending oldest first, then the decided
// ones, newest first.
func shown(ps []supervise.Proposal) []supervise.Proposal {
	var pending, decided []supervise.Proposal
	for _, p := range ps {
		if p.Status == supervise.StatusPending {
			pending = append(pending, p)
		} else {
			decided = append(decided, p)
		}
	}
	slices.SortStableFunc(pending, func(a, b supervise.Proposal) int { return a.Created.Compare(b.Created) })
	slices.SortStableFunc(decided, func(a, b supervise.Proposal) int { return b.Created.Compare(a.Created) })
	return append(pending, decided...)
}

func (m *Model) selected() (supervise.Proposal, bool) {
	if m.cursor < 0 || m.cursor >= len(m.props) {
		return supervise.Proposal{}, false
	}
	return m.props[m.cursor], true
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tickMsg:
		return m, tea.Batch(m.list(), m.tick())
	case listedMsg:
		if msg.err != nil {
			m.status = "listing: " + supervise.Escape(msg.err.Error())
		}
		var keep string
		if p, ok := m.selected(); ok {
			keep = p.ID
		}
		m.props = shown(msg.props)
		m.cursor = min(m.cursor, max(len(m.props)-1, 0))
		for i, p := range m.props {
			if p.ID == keep {
				m.cursor = i
			}
		}
	case decidedMsg:
		if msg.err != nil {
			m.status = "not decided: " + supervise.Escape(msg.err.Error())
		} else {
			m.status = fmt.Sprintf("%s %s", msg.p.ID, msg.p.Status)
			m.mode = modeList
		}
		return m, m.list()
	case editedMsg:
		if msg.err != nil {
			m.status = "the edit: " + supervise.Escape(msg.err.Error()) + " (e to edit again)"
			return m, nil
		}
		m.edited = msg.route
		m.mode, m.input = modeLifetime, ""
		m.status = "modified: " + supervise.Describe(*msg.route)
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m *Model) key(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	s := k.String()
	if s == "ctrl+c" {
		return m, tea.Quit
	}
	if m.mode == modeLifetime || m.mode == modeReason {
		return m.prompt(k)
	}
	switch s {
	case "q":
		if m.mode == modeDetail {
			m.mode = modeList
			return m, nil
		}
		return m, tea.Quit
	case "esc":
		m.mode = modeList
	case "up", "k":
		m.cursor = max(m.cursor-1, 0)
	case "down", "j":
		m.cursor = min(m.cursor+1, max(len(m.props)-1, 0))
	case "enter":
		if _, ok := m.selected(); ok {
			m.mode = modeDetail
		}
	case "R":
		return m, m.list()
	case "a", "r", "e":
		p, ok := m.selected()
		if !ok || p.Status != supervise.StatusPending {
			m.status = "select a pending proposal first"
			return m, nil
		}
		m.edited = nil
		switch s {
		case "a":
			m.mode, m.input = modeLifetime, ""
		case "r":
			m.mode, m.input = modeReason, ""
		case "e":
			if p.Kind != supervise.KindRoute || p.Route == nil {
				m.status = "only a route can be modified"
				return m, nil
			}
			return m, m.edit(*p.Route)
		}
	}
	return m, nil
}

// prompt edits the one-line input of the lifetime or reason prompt.
func (m *Model) prompt(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch k.String() {
	case "esc":
		m.mode, m.input, m.edited = modeList, "", nil
		m.status = "cancelled"
		return m, nil
	case "backspace":
		if r := []rune(m.input); len(r) > 0 {
			m.input = string(r[:len(r)-1])
		}
		return m, nil
	case "enter":
		p, ok := m.selected()
		if !ok {
			return m, nil
		}
		v := supervise.Verdict{By: m.opts.By}
		if m.mode == modeReason {
			if strings.TrimSpace(m.input) == "" {
				m.status = "a rejection needs a reason: the agent reads it"
				return m, nil
			}
			v.Reason = m.input
		} else {
			lt, err := ParseLifetime(m.input)
			if err != nil {
				m.status = err.Error()
				return m, nil
			}
			v.Approve, v.Lifetime, v.Route = true, lt, m.edited
		}
		id := p.ID
		return m, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := m.op.Decide(ctx, id, v)
			return decidedMsg{got, err}
		}
	}
	if t := k.Key().Text; t != "" && len([]rune(m.input)) < 500 {
		m.input += t
	}
	return m, nil
}

// ParseLifetime reads the lifetime prompt: empty or "life" for the
// bottle's life, "once", N followed by "u" for N uses, or a duration
// ("30m", "2h").
func ParseLifetime(s string) (supervise.Lifetime, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	switch {
	case s == "" || s == "life":
		return supervise.Lifetime{}, nil
	case s == "once":
		return supervise.Lifetime{Once: true}, nil
	case strings.HasSuffix(s, "u"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "u"))
		if err != nil || n <= 0 {
			return supervise.Lifetime{}, fmt.Errorf("%q: a use count is a positive number and u, such as 5u", s)
		}
		return supervise.Lifetime{Uses: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return supervise.Lifetime{}, fmt.Errorf("%q: write life, once, a use count such as 5u, or a duration such as 30m", s)
	}
	return supervise.Lifetime{TTL: d}, nil
}

// edit opens the route in the editor and reads it back.
func (m *Model) edit(r supervise.RouteRequest) tea.Cmd {
	f, err := os.CreateTemp("", "bot-bottle-route-*.yaml")
	if err != nil {
		return func() tea.Msg { return editedMsg{err: err} }
	}
	path := f.Name()
	_, werr := f.Write(RouteYAML(r))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return func() tea.Msg { return editedMsg{err: werr} }
	}
	argv := append(strings.Fields(m.opts.Editor), path)
	//nolint:gosec // G204: the operator's own $EDITOR on a file we made.
	c := exec.Command(argv[0], argv[1:]...)
	return tea.ExecProcess(c, func(err error) tea.Msg {
		defer func() { _ = os.Remove(path) }()
		if err != nil {
			return editedMsg{err: fmt.Errorf("the editor: %w", err)}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return editedMsg{err: err}
		}
		route, err := ParseRouteYAML(data)
		if err != nil {
			return editedMsg{err: err}
		}
		return editedMsg{route: &route}
	})
}
