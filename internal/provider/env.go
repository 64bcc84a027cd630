package provider

import (
	"errors"
	"fmt"
	"slices"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// bottleEnv appends the bottle's env entries to the provider's variables;
// an entry replaces a provider variable of the same name in place. Host
// values are all checked before any prompt is shown, and every unset host
// variable is reported at once.
//
// Security: errors name the entry and the host variable, never a value.
func bottleEnv(env []backend.EnvVar, entries []manifest.EnvVar, opts *Options) ([]backend.EnvVar, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	values := make([]secret.Value, len(entries))
	var missing []error
	for i, e := range entries {
		switch e.Value.Mode {
		case manifest.EnvLiteral:
			values[i] = secret.New(e.Value.Literal)
		case manifest.EnvHost:
			v, ok := lookup(e.Value.HostVar)
			if !ok {
				missing = append(missing, fmt.Errorf("env %s: host variable %s is not set; export it or change the bottle's env", e.Name, e.Value.HostVar))
				continue
			}
			values[i] = secret.New(v)
		case manifest.EnvPrompt:
		default:
			return nil, fmt.Errorf("env %s: unknown value mode %v", e.Name, e.Value.Mode)
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	for i, e := range entries {
		if e.Value.Mode != manifest.EnvPrompt {
			continue
		}
		if opts.Prompt == nil {
			return nil, fmt.Errorf("env %s: the bottle asks for its value, but no terminal is available to ask on", e.Name)
		}
		v, err := opts.Prompt(e.Name, e.Value.Prompt)
		if err != nil {
			return nil, fmt.Errorf("env %s: asking for its value: %w", e.Name, err)
		}
		values[i] = secret.New(v)
	}
	out := slices.Clone(env)
	for i, e := range entries {
		v := backend.EnvVar{Name: e.Name, Value: values[i]}
		if j := slices.IndexFunc(out, func(o backend.EnvVar) bool { return o.Name == e.Name }); j >= 0 {
			out[j] = v
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// literal is a non-secret variable of the provider's own.
func literal(name, value string) backend.EnvVar {
	return backend.EnvVar{Name: name, Value: secret.New(value)}
}
