//go:build linux

package cgroup

import "fmt"

// Enforcer makes groups that enforce limits: a cgroup v2 Hierarchy, or a
// host's V1 hierarchies.
type Enforcer interface {
	// Enforceable narrows l to what can be enforced; the error says why
	// the rest cannot be, and is nil when nothing was dropped.
	Enforceable(l Limits) (Limits, error)
	// Create makes the group Prefix+name with limits l.
	Create(name string, l Limits) (*Group, error)
	// Version names the mechanism for people: "cgroup v2", "cgroup v1".
	Version() string
}

var (
	_ Enforcer = Hierarchy{}
	_ Enforcer = V1{}
)

// Host returns this host's Enforcer: its cgroup v2 hierarchy where
// SystemRoot is one, else its cgroup v1 hierarchies. The error wraps
// ErrUnavailable when it has neither.
func Host() (Enforcer, error) {
	h, err := System()
	if err == nil {
		return h, nil
	}
	v1, err1 := SystemV1()
	if err1 == nil {
		return v1, nil
	}
	return nil, fmt.Errorf("%w (%w)", err1, err)
}

// Enforceable implements Enforcer.
func (h Hierarchy) Enforceable(l Limits) (Limits, error) {
	return narrow(l, func(c string) error {
		_, _, err := h.Parent([]string{c})
		return err
	})
}

// Version implements Enforcer.
func (Hierarchy) Version() string { return "cgroup v2" }

// Enforceable implements Enforcer.
func (h V1) Enforceable(l Limits) (Limits, error) {
	return narrow(l, func(c string) error {
		_, err := h.Parent(c)
		return err
	})
}

// Version implements Enforcer.
func (V1) Version() string { return "cgroup v1" }

// narrow drops from l the limits whose controller check refuses.
func narrow(l Limits, check func(controller string) error) (Limits, error) {
	var why error
	for _, c := range l.Controllers() {
		if err := check(c); err != nil {
			why = err
			switch c {
			case "cpu":
				l.MilliCPUs = 0
			case "memory":
				l.Memory = 0
			case "pids":
				l.Pids = 0
			}
		}
	}
	return l, why
}
