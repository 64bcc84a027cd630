package policy

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Op says which way a Change moves the agent's authority.
type Op byte

// Ops. They are also the marks Changes.Write prints.
const (
	// Grant gives the agent authority: a host, a request shape, a
	// credential, a branch, a scan or protection taken away.
	Grant Op = '+'
	// Revoke takes authority away.
	Revoke Op = '-'
	// Other changes what the bottle does without widening or narrowing
	// what the agent may do: the egress log level, the git identity.
	Other Op = '~'
)

// Change is one difference of authority between two policies.
type Change struct {
	Op Op
	// Text says what changed, for a person: hosts, request shapes, host
	// variable and slot names, never a secret.
	Text string
}

// Changes is the difference between two policies, in a stable order:
// routes in the new policy's order then the removed ones, then the git
// gate.
type Changes []Change

// Diff returns the authority next adds to and removes from old. It reads
// only the policies' fields, so they need not be prepared. Credentials are
// named by the host variable they come from: slots are numbered per
// policy, so a slot name says nothing across two policies.
func Diff(old, next *Policy) Changes {
	if old == nil {
		old = &Policy{}
	}
	if next == nil {
		next = &Policy{}
	}
	var d Changes
	if old.Log != next.Log {
		d.add(Other, "egress log: %s instead of %s", logName(next.Log), logName(old.Log))
	}
	d.routes(old, next)
	d.gitGate(old.GitGate, next.GitGate)
	return d
}

func (d *Changes) add(op Op, format string, args ...any) {
	*d = append(*d, Change{Op: op, Text: fmt.Sprintf(format, args...)})
}

// Write prints one line a change: "+ ", "- " or "~ " and its text.
func (d Changes) Write(w io.Writer) error {
	for _, c := range d {
		if _, err := fmt.Fprintf(w, "%c %s\n", c.Op, c.Text); err != nil {
			return err
		}
	}
	return nil
}

func (d Changes) String() string {
	var b strings.Builder
	_ = d.Write(&b)
	return b.String()
}

func logName(l int) string {
	switch l {
	case 0:
		return "off"
	case 1:
		return "blocks"
	case 2:
		return "everything"
	}
	return fmt.Sprintf("level %d", l)
}

// setDiff adds a change for each entry only in old (opOld) or only in next
// (opNew), old's first, each in its list's order.
func (d *Changes) setDiff(old, next []string, opOld, opNew Op, format string) {
	for _, s := range old {
		if !slices.Contains(next, s) {
			d.add(opOld, format, s)
		}
	}
	for _, s := range next {
		if !slices.Contains(old, s) {
			d.add(opNew, format, s)
		}
	}
}
