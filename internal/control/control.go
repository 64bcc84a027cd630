// Package control is the host's channel to a running bottle's sidecar:
// health, the effective policy, a live policy replace and a follow of the
// audit events, as HTTP over a connection the backend dials (a 0600 Unix
// socket on native, a stream through the container runtime on Docker).
//
// Every request carries the bottle's control token, which only the host
// and the sidecar hold: the agent never sees it, and the listener is not
// reachable from the bottle. The channel never carries a secret back to
// the host: policies hold slot names, events are redacted.
package control

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// API paths.
const (
	PathHealth = "/v1/health"
	PathPolicy = "/v1/policy"
	PathEvents = "/v1/events"
	// PathProposals lists the bottle's supervise proposals (GET); a POST
	// on PathProposals/ID decides one.
	PathProposals = "/v1/proposals"
)

// Health is the sidecar's answer on PathHealth.
type Health struct {
	Bottle string `json:"bottle"`
	// Services maps each service (egress, dns, gitgate) to "up" or why not.
	Services map[string]string `json:"services"`
	// Generation counts policy replacements, 0 for the policy of start.
	Generation int       `json:"generation"`
	Since      time.Time `json:"since"`
}

// Replacement is the body of a PUT on PathPolicy: the compiled policy and
// the secrets of its slots the sidecar does not hold yet. A slot absent
// here keeps the secret the sidecar has for it.
type Replacement struct {
	Policy  json.RawMessage   `json:"policy"`
	Secrets map[string]string `json:"secrets,omitempty"`
}

// Applied is the answer to a replacement.
type Applied struct {
	Generation int `json:"generation"`
	Routes     int `json:"routes"`
	Repos      int `json:"repos"`
}

// Event is one audit event as followed on PathEvents.
type Event = egress.Event

// NewToken returns a fresh control token.
func NewToken() (secret.Value, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return secret.Value{}, err
	}
	return secret.New(hex.EncodeToString(b)), nil
}
