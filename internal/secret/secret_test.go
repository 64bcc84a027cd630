package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const hunter = "hunter2-s3cr3t"

type exported struct {
	Name  string
	Token Value
}

type unexported struct {
	name  string
	token Value
}

func TestFormat(t *testing.T) {
	v := New(hunter)
	var nilPtr *Value
	tests := []struct {
		name   string
		format string
		arg    any
		want   string
	}{
		{"v", "%v", v, Redacted},
		{"plus-v", "%+v", v, Redacted},
		{"sharp-v", "%#v", v, Redacted},
		{"s", "%s", v, Redacted},
		{"q", "%q", v, `"[redacted]"`},
		{"x", "%x", v, Redacted},
		{"X", "%X", v, Redacted},
		{"d", "%d", v, Redacted},
		{"width", "%20s", v, Redacted},
		{"pointer", "%v", &v, Redacted},
		{"nil-pointer", "%v", nilPtr, "<nil>"},
		{"zero", "%v", Value{}, Empty},
		{"new-empty", "%s", New(""), Empty},
		{"struct", "%v", exported{"a", v}, "{a [redacted]}"},
		{"struct-plus", "%+v", exported{"a", v}, "{Name:a Token:[redacted]}"},
		{"struct-sharp", "%#v", exported{"a", v}, `secret.exported{Name:"a", Token:[redacted]}`},
		{"slice", "%v", []Value{v, v}, "[[redacted] [redacted]]"},
		{"map", "%v", map[string]Value{"k": v}, "map[k:[redacted]]"},
		{"println", "%v", fmt.Sprintln(v), Redacted + "\n"},
		{"print", "%v", fmt.Sprint(v), Redacted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fmt.Sprintf(tt.format, tt.arg)
			if got != tt.want {
				t.Errorf("Sprintf(%q) = %q, want %q", tt.format, got, tt.want)
			}
		})
	}
}

// TestFormatNeverLeaks covers renderings whose exact text is not ours to
// fix (fmt reflecting into unexported fields prints an address).
func TestFormatNeverLeaks(t *testing.T) {
	v := New(hunter)
	args := []any{
		unexported{"a", v}, &unexported{"a", v}, []unexported{{"a", v}},
		struct{ in unexported }{unexported{"a", v}},
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		for i, a := range args {
			if got := fmt.Sprintf(verb, a); strings.Contains(got, hunter) || strings.Contains(got, fmt.Sprintf("%x", hunter)) {
				t.Errorf("Sprintf(%q, args[%d]) = %q, leaks the secret", verb, i, got)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	v := New(hunter)
	base := fmt.Errorf("token %v rejected", v)
	wrapped := fmt.Errorf("calling api: %w", base)
	joined := errors.Join(wrapped, fmt.Errorf("%s %q %+v %#v", v, v, v, v))
	for _, err := range []error{base, wrapped, joined} {
		if strings.Contains(err.Error(), hunter) {
			t.Errorf("error %q leaks the secret", err)
		}
	}
	if want := "calling api: token [redacted] rejected"; wrapped.Error() != want {
		t.Errorf("wrapped.Error() = %q, want %q", wrapped.Error(), want)
	}
}

func TestJSON(t *testing.T) {
	v := New(hunter)
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"value", v, `"[redacted]"`},
		{"zero", Value{}, `"[empty]"`},
		{"pointer", &v, `"[redacted]"`},
		{"struct", exported{"a", v}, `{"Name":"a","Token":"[redacted]"}`},
		{"unexported-field", unexported{"a", v}, `{}`},
		{"map-value", map[string]Value{"k": v}, `{"k":"[redacted]"}`},
		{"slice", []Value{v}, `["[redacted]"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if got := string(b); got != tt.want {
				t.Errorf("json.Marshal = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNoUnmarshal(t *testing.T) {
	var x exported
	// Without UnmarshalJSON the unexported field cannot be set: a secret
	// never comes from JSON.
	_ = json.Unmarshal([]byte(`{"Token":"hunter2"}`), &x)
	if !x.Token.IsZero() {
		t.Errorf("json.Unmarshal set a secret: Reveal() = %q", x.Token.Reveal())
	}
	if _, ok := any(&x.Token).(json.Unmarshaler); ok {
		t.Error("*Value implements json.Unmarshaler")
	}
}

func TestText(t *testing.T) {
	b, err := New(hunter).MarshalText()
	if err != nil || string(b) != Redacted {
		t.Errorf("MarshalText() = %q, %v, want %q, nil", b, err, Redacted)
	}
}

func TestSlog(t *testing.T) {
	v := New(hunter)
	for _, tt := range []struct {
		name string
		h    func(*bytes.Buffer) slog.Handler
		want string
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }, `"token":"[redacted]"`},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }, `token=[redacted]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(tt.h(&buf))
			log.Info("calling", "token", v, "user", exported{"a", v}, slog.Group("g", "secret", v))
			log.With("bound", v).Warn("again", "hidden", unexported{"a", v})
			got := buf.String()
			if strings.Contains(got, hunter) {
				t.Errorf("log output leaks the secret: %s", got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("log output = %s, want it to contain %s", got, tt.want)
			}
		})
	}
}

func TestReveal(t *testing.T) {
	tests := []struct {
		name     string
		v        Value
		want     string
		wantZero bool
	}{
		{"set", New(hunter), hunter, false},
		{"empty", New(""), "", true},
		{"zero", Value{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.Reveal(); got != tt.want {
				t.Errorf("Reveal() = %q, want %q", got, tt.want)
			}
			if got := tt.v.IsZero(); got != tt.wantZero {
				t.Errorf("IsZero() = %v, want %v", got, tt.wantZero)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	a, b, c := New(hunter), New(hunter), New("other-s3cr3t")
	if !cmp.Equal(a, b) {
		t.Error("cmp.Equal(a, a') = false, want true")
	}
	d := cmp.Diff(a, c)
	if d == "" || strings.Contains(d, hunter) || strings.Contains(d, "other-s3cr3t") {
		t.Errorf("cmp.Diff(a, c) = %q, want a difference that shows neither secret", d)
	}
	if !(Value{}).Equal(New("")) {
		t.Error(`Value{}.Equal(New("")) = false, want true`)
	}
}
