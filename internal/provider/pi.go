package provider

import (
	"fmt"
	"slices"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// Pi's defaults for fields agent_provider.settings leaves unset: the
// original tool's Ollama server, reached as "ollama" through its
// OpenAI-compatible API, and a model of our choosing.
const (
	DefaultPiProvider = "ollama"
	DefaultPiBaseURL  = "http://ollama:11434/v1"
	DefaultPiAPI      = "openai-completions"
	DefaultPiModel    = "llama3.1"
)

// piModels is ~/.pi/agent/models.json.
type piModels struct {
	Providers map[string]piProvider `json:"providers"`
}

type piProvider struct {
	BaseURL string    `json:"baseUrl"`
	API     string    `json:"api"`
	APIKey  string    `json:"apiKey"`
	Models  []piModel `json:"models"`
}

type piModel struct {
	ID string `json:"id"`
}

// piSettings is ~/.pi/agent/settings.json: the model pi starts with.
type piSettings struct {
	DefaultProvider string `json:"defaultProvider"`
	DefaultModel    string `json:"defaultModel"`
}

// configurePi writes pi's model registry from agent_provider.settings,
// each unset field taking its default, and makes the agent's model (or
// else the first) the default one. Pi insists on an API key for a custom provider; it gets the
// placeholder, and a route's auth injects the real key when one is needed.
func configurePi(c *setup) ([]backend.File, []backend.EnvVar, error) {
	s := manifest.PiSettings{}
	if v := c.r.Bottle.Provider.Settings.V; v != nil {
		s = *v
	}
	if s.Provider == "" {
		s.Provider = DefaultPiProvider
	}
	if s.BaseURL == "" {
		s.BaseURL = DefaultPiBaseURL
	}
	if s.API == "" {
		s.API = DefaultPiAPI
	}
	if len(s.Models) == 0 {
		s.Models = []string{DefaultPiModel}
	}
	// The agent's model is the one pi starts with.
	if m := c.r.Agent.Model.V; m != "" {
		s.Models = append([]string{m}, slices.DeleteFunc(slices.Clone(s.Models), func(x string) bool { return x == m })...)
	}
	p := piProvider{BaseURL: s.BaseURL, API: s.API, APIKey: Placeholder}
	for _, m := range s.Models {
		p.Models = append(p.Models, piModel{ID: m})
	}
	models, err := marshalJSON(piModels{Providers: map[string]piProvider{s.Provider: p}})
	if err != nil {
		return nil, nil, fmt.Errorf("rendering ~/.pi/agent/models.json: %w", err)
	}
	settings, err := marshalJSON(piSettings{DefaultProvider: s.Provider, DefaultModel: s.Models[0]})
	if err != nil {
		return nil, nil, fmt.Errorf("rendering ~/.pi/agent/settings.json: %w", err)
	}
	return []backend.File{
		agentFile(".pi/agent/models.json", 0o644, models),
		agentFile(".pi/agent/settings.json", 0o644, settings),
	}, nil, nil
}
