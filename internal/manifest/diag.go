package manifest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity says whether a diagnostic stops a launch.
type Severity int

// Severities.
const (
	SevError Severity = iota + 1
	SevWarning
)

// Diag is one positioned problem found in a manifest.
type Diag struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

// String renders d as "FILE:LINE:COL: message", with "warning: " before the
// message of a warning. A diagnostic without a file renders its message alone.
func (d Diag) String() string {
	var b strings.Builder
	if p := d.Pos.String(); p != "" {
		b.WriteString(p)
		b.WriteString(": ")
	}
	if d.Severity == SevWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Diagnostics collects every problem found, so that all errors of a file are
// reported at once.
type Diagnostics []Diag

func (ds *Diagnostics) errorf(at Pos, format string, args ...any) {
	*ds = append(*ds, Diag{Pos: at, Severity: SevError, Msg: fmt.Sprintf(format, args...)})
}

func (ds *Diagnostics) warnf(at Pos, format string, args ...any) {
	*ds = append(*ds, Diag{Pos: at, Severity: SevWarning, Msg: fmt.Sprintf(format, args...)})
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	return slices.ContainsFunc(ds, func(d Diag) bool { return d.Severity == SevError })
}

// Errors returns the error diagnostics.
func (ds Diagnostics) Errors() Diagnostics {
	return slices.DeleteFunc(slices.Clone(ds), func(d Diag) bool { return d.Severity != SevError })
}

// Warnings returns the warning diagnostics.
func (ds Diagnostics) Warnings() Diagnostics {
	return slices.DeleteFunc(slices.Clone(ds), func(d Diag) bool { return d.Severity != SevWarning })
}

// Sort orders diagnostics by file, line and column, and drops exact repeats.
func (ds Diagnostics) Sort() Diagnostics {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(a, b Diag) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
		)
	})
	return slices.Compact(out)
}

// Err returns the errors among ds as one error (nil when there are none).
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &Error{Diags: errs.Sort()}
}

// Error is returned when manifests are invalid. Its message holds one
// positioned line per problem.
type Error struct {
	Diags Diagnostics
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Diags))
	for i, d := range e.Diags {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}
