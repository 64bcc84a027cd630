package policy

import "strings"

// SlotKind says what a secret slot holds.
type SlotKind string

// Slot kinds.
const (
	// SlotToken is a route credential, read on the host from Env.
	SlotToken SlotKind = "token"
	// SlotKey is a git gate repository's SSH key, minted or read by the
	// launcher.
	SlotKey SlotKind = "key"
)

// Slot is one secret the sidecar must be handed for the policy to work.
type Slot struct {
	Name string
	Kind SlotKind
	// Env is the host variable a token is read from; empty for a key.
	Env string
	// For names what the secret serves: a token's hosts, a key's
	// repository. It is for messages.
	For string
}

// Slots lists every secret slot of the policy, tokens first, in policy
// order: the one list the launcher fills and the sidecar checks.
func (p *Policy) Slots() []Slot {
	var out []Slot
	for _, t := range p.Tokens {
		out = append(out, Slot{Name: t.Slot, Kind: SlotToken, Env: t.Env, For: strings.Join(t.Hosts, ", ")})
	}
	if p.GitGate != nil {
		for _, r := range p.GitGate.Repos {
			out = append(out, Slot{Name: r.Key.Slot, Kind: SlotKey, For: "repository " + r.Name})
		}
	}
	return out
}
