package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// View renders the screen. Every text that came from a bottle goes
// through supervise.Escape.
func (m *Model) View() tea.View {
	var b strings.Builder
	now := m.opts.Now()
	pending := 0
	for _, p := range m.props {
		if p.Status == supervise.StatusPending {
			pending++
		}
	}
	fmt.Fprintf(&b, "bot-bottle supervise: %d pending\n\n", pending)
	switch m.mode {
	case modeList:
		m.viewList(&b, now)
	default:
		m.viewDetail(&b, now)
	}
	b.WriteString("\n")
	switch m.mode {
	case modeLifetime:
		fmt.Fprintf(&b, "approve for [life | once | 5u | 30m]: %s█\n", supervise.Escape(m.input))
		b.WriteString("enter approve · esc cancel\n")
	case modeReason:
		fmt.Fprintf(&b, "reject, reason for the agent: %s█\n", supervise.Escape(m.input))
		b.WriteString("enter reject · esc cancel\n")
	case modeDetail:
		b.WriteString("a approve · e modify · r reject · esc back · q quit\n")
	default:
		b.WriteString("↑↓ select · enter details · a approve · e modify · r reject · R refresh · q quit\n")
	}
	if m.status != "" {
		b.WriteString(m.status + "\n")
	}
	v := tea.NewView(b.String())
	v.AltScreen = true
	return v
}

func (m *Model) viewList(b *strings.Builder, now time.Time) {
	if len(m.props) == 0 {
		b.WriteString("  no proposals; an agent asks with its MCP tool request_route\n")
		return
	}
	rows := max(m.height-8, 3)
	start := max(0, m.cursor-rows+1)
	for i := start; i < len(m.props) && i < start+rows; i++ {
		p := m.props[i]
		mark := "  "
		if i == m.cursor {
			mark = "> "
		}
		risk := ""
		if len(p.Risks) > 0 {
			codes := make([]string, 0, len(p.Risks))
			for _, r := range p.Risks {
				codes = append(codes, r.Code)
			}
			risk = "! " + strings.Join(codes, ",") + " "
		}
		line := fmt.Sprintf("%s%-11s %-14s %-9s %5s  %s%s", mark, supervise.Escape(p.ID), supervise.Escape(p.Bottle), p.Status, ago(now.Sub(p.Created)), risk, supervise.Escape(p.Summary))
		b.WriteString(clip(line, m.width) + "\n")
	}
}

func (m *Model) viewDetail(b *strings.Builder, now time.Time) {
	p, ok := m.selected()
	if !ok {
		return
	}
	fmt.Fprintf(b, "%s  %s  %s  in bottle %s\n", supervise.Escape(p.ID), p.Kind, p.Status, supervise.Escape(p.Bottle))
	fmt.Fprintf(b, "%s\n", supervise.Escape(p.Summary))
	if p.Status == supervise.StatusPending {
		fmt.Fprintf(b, "raised %s ago, expires in %s\n", ago(now.Sub(p.Created)), ago(p.Deadline.Sub(now)))
	}
	if len(p.Risks) > 0 {
		b.WriteString("\nrisks:\n")
		for _, r := range p.Risks {
			fmt.Fprintf(b, "  ! %s: %s\n", r.Code, supervise.Escape(r.Text))
		}
	}
	if p.Reason != "" {
		fmt.Fprintf(b, "\nthe agent's reason (its own words):\n  %s\n", supervise.Escape(p.Reason))
	}
	if h := p.Hold; h != nil {
		fmt.Fprintf(b, "\nheld request: %s %s%s\n  matched %s in %s\n", supervise.Escape(h.Method), supervise.Escape(h.Host), supervise.Escape(h.Path), supervise.Escape(strings.Join(h.Rules, ", ")), supervise.Escape(strings.Join(h.Where, ", ")))
	}
	if ps := p.Push; ps != nil {
		fmt.Fprintf(b, "\nheld push to %s (%s):\n", supervise.Escape(ps.Repo), supervise.Escape(strings.Join(ps.Refs, ", ")))
		for _, f := range ps.Findings {
			fmt.Fprintf(b, "  %s %s:%d %s  %s\n", supervise.Escape(f.Commit), supervise.Escape(f.File), f.Line, supervise.Escape(f.Rule), supervise.Escape(f.Reason))
		}
	}
	diff := p.Diff
	title := "authority it adds"
	if m.edited != nil {
		diff, title = RouteDiff(*m.edited), "authority the modified route adds"
	}
	if len(diff) > 0 {
		fmt.Fprintf(b, "\n%s:\n", title)
		for _, d := range diff {
			fmt.Fprintf(b, "  %s %s\n", d.Op, supervise.Escape(d.Text))
		}
	}
	if d := p.Decision; d != nil {
		fmt.Fprintf(b, "\ndecided %s by %s %s\n", d.Status, supervise.Escape(d.By), supervise.Escape(d.Notes+d.Reason))
	}
}

// RouteDiff is the authority a route adds, as the operator reads it
// before approving an edit: the host, then each method and path.
func RouteDiff(r supervise.RouteRequest) []supervise.DiffLine {
	meth := "any method"
	if len(r.Methods) > 0 {
		meth = strings.Join(r.Methods, ",")
	}
	out := []supervise.DiffLine{{Op: "+", Text: "host " + r.Host}}
	if len(r.Paths) == 0 {
		return append(out, supervise.DiffLine{Op: "+", Text: r.Host + ": " + meth + " on every path"})
	}
	for _, p := range r.Paths {
		out = append(out, supervise.DiffLine{Op: "+", Text: fmt.Sprintf("%s: %s %s %s", r.Host, meth, p.Type, p.Value)})
	}
	return out
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	default:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
}

func clip(s string, w int) string {
	r := []rune(s)
	if w > 1 && len(r) > w {
		return string(r[:w-1]) + "…"
	}
	return s
}
