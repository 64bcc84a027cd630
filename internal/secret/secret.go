// Package secret holds credentials in a Value that redacts itself wherever
// it is printed, logged or marshalled.
//
// Security: a Value must never render its secret through fmt, errors,
// encoding/json, encoding.TextMarshaler or log/slog; only Reveal exposes it,
// and Reveal belongs at the single place that puts the secret on the wire.
// A secret is never read from JSON: Value has no UnmarshalJSON.
package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strconv"
)

// Redaction placeholders printed instead of a secret.
const (
	Redacted = "[redacted]"
	Empty    = "[empty]"
)

// Value is a secret string. The zero Value is empty.
//
// Security: the secret is held by a closure. fmt, reflecting into a struct
// whose unexported field holds a Value, cannot call its methods and prints
// the fields it finds; a func prints as an address, whatever the verb,
// where a string or a pointer to one would print the secret.
type Value struct {
	reveal func() string
}

// New returns a Value holding s.
func New(s string) Value {
	if s == "" {
		return Value{}
	}
	return Value{reveal: func() string { return s }}
}

// Reveal returns the secret itself. Call it only to put the secret on the
// wire, never to print, log or store it.
func (v Value) Reveal() string {
	if v.reveal == nil {
		return ""
	}
	return v.reveal()
}

// IsZero reports whether v holds the empty secret.
func (v Value) IsZero() bool { return v.reveal == nil }

// Equal reports whether v and o hold the same secret, in time that does not
// depend on where they differ. It lets go-cmp compare Values.
func (v Value) Equal(o Value) bool {
	return subtle.ConstantTimeCompare([]byte(v.Reveal()), []byte(o.Reveal())) == 1
}

// redacted is what every rendering of v prints.
func (v Value) redacted() string {
	if v.IsZero() {
		return Empty
	}
	return Redacted
}

// String returns a placeholder, never the secret.
func (v Value) String() string { return v.redacted() }

// GoString returns a placeholder, never the secret.
func (v Value) GoString() string { return v.redacted() }

// Format implements fmt.Formatter: every verb and flag prints the
// placeholder; %q quotes it.
func (v Value) Format(f fmt.State, verb rune) {
	s := v.redacted()
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = f.Write([]byte(s))
}

// MarshalJSON implements json.Marshaler with the placeholder as a string.
func (v Value) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(v.redacted())), nil
}

// MarshalText implements encoding.TextMarshaler with the placeholder.
func (v Value) MarshalText() ([]byte, error) { return []byte(v.redacted()), nil }

// LogValue implements slog.LogValuer with the placeholder.
func (v Value) LogValue() slog.Value { return slog.StringValue(v.redacted()) }

// Interface guards.
var (
	_ fmt.Formatter  = Value{}
	_ fmt.Stringer   = Value{}
	_ fmt.GoStringer = Value{}
	_ slog.LogValuer = Value{}
)
