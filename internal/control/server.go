package control

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// Service is what the sidecar exposes on the channel.
type Service interface {
	Health() Health
	// Policy returns the policy in force.
	Policy() *policy.Policy
	// Replace puts pol in force everywhere (egress, DNS, git gate) or,
	// on error, nowhere.
	Replace(pol *policy.Policy, secrets map[string]secret.Value) (Applied, error)
	// Events calls fn with the last tail events and, when follow, each
	// new one until ctx ends or fn fails.
	Events(ctx context.Context, tail int, follow bool, fn func(Event) error) error
	// Proposals returns the bottle's supervise proposals, oldest first.
	Proposals() []supervise.Proposal
	// Decide applies the operator's verdict on one of them.
	Decide(id string, v supervise.Verdict) (supervise.Proposal, error)
}

// maxVerdict caps a verdict's body.
const maxVerdict = 64 << 10

// maxReplacement caps a replacement's body.
const maxReplacement = 8 << 20

// Handler serves the channel for s; every request must carry token.
func Handler(token secret.Value, s Service) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Health()) })
	mux.HandleFunc("GET "+PathPolicy, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Policy()) })
	mux.HandleFunc("PUT "+PathPolicy, func(w http.ResponseWriter, r *http.Request) {
		var rep Replacement
		dec := json.NewDecoder(io.LimitReader(r.Body, maxReplacement))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep); err != nil {
			http.Error(w, "reading the replacement: "+err.Error(), http.StatusBadRequest)
			return
		}
		pol, err := policy.Parse(rep.Policy)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		secrets := map[string]secret.Value{}
		for k, v := range rep.Secrets {
			secrets[k] = secret.New(v)
		}
		applied, err := s.Replace(pol, secrets)
		if err != nil {
			// Security: errors of Replace name slots, never values.
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		writeJSON(w, applied)
	})
	mux.HandleFunc("GET "+PathProposals, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Proposals()) })
	mux.HandleFunc("POST "+PathProposals+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		var v supervise.Verdict
		dec := json.NewDecoder(io.LimitReader(r.Body, maxVerdict))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			http.Error(w, "reading the verdict: "+err.Error(), http.StatusBadRequest)
			return
		}
		p, err := s.Decide(r.PathValue("id"), v)
		switch {
		case errors.Is(err, supervise.ErrNotFound):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusConflict)
		default:
			writeJSON(w, p)
		}
	})
	mux.HandleFunc("GET "+PathEvents, func(w http.ResponseWriter, r *http.Request) {
		tail, _ := strconv.Atoi(r.URL.Query().Get("tail"))
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		fl, _ := w.(http.Flusher)
		if fl != nil {
			fl.Flush()
		}
		enc := json.NewEncoder(w)
		err := s.Events(r.Context(), max(tail, 0), r.URL.Query().Get("follow") == "1", func(ev Event) error {
			if err := enc.Encode(ev); err != nil {
				return err
			}
			if fl != nil {
				fl.Flush()
			}
			return nil
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			_ = enc.Encode(struct {
				Error string `json:"error"`
			}{err.Error()})
		}
	})
	return auth(token, mux)
}

// auth refuses a request without the token, in time that does not depend
// on how much of it matched, and says nothing more.
func auth(token secret.Value, next http.Handler) http.Handler {
	want := []byte("Bearer " + token.Reveal())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if token.IsZero() || subtle.ConstantTimeCompare(got, want) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, strings.TrimSpace(err.Error()), http.StatusInternalServerError)
	}
}
