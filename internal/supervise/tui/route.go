package tui

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/bot-bottle/bot-bottle/internal/supervise"
)

// routeDoc is a route as the operator edits it.
type routeDoc struct {
	Host    string               `yaml:"host"`
	Paths   []supervise.PathSpec `yaml:"paths,omitempty"`
	Methods []string             `yaml:"methods,omitempty"`
}

const routeHeader = `# The route to grant. host: a DNS name; paths: a list of {type: prefix|exact|regex, value};
# methods: GET HEAD POST PUT PATCH DELETE OPTIONS. No paths allows every path, no methods every method.
# Save and quit to review it; a route that does not validate is refused and can be edited again.
`

// RouteYAML is r as the document the operator edits.
func RouteYAML(r supervise.RouteRequest) []byte {
	var b bytes.Buffer
	b.WriteString(routeHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(routeDoc{Host: r.Host, Paths: r.Paths, Methods: r.Methods})
	return b.Bytes()
}

// ParseRouteYAML reads an edited route strictly (one document, no
// unknown key) and validates it as the sidecar will.
func ParseRouteYAML(data []byte) (supervise.RouteRequest, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var d routeDoc
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return supervise.RouteRequest{}, errors.New("the route is empty")
		}
		return supervise.RouteRequest{}, fmt.Errorf("reading the route: %w", err)
	}
	var more routeDoc
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return supervise.RouteRequest{}, errors.New("the route file holds more than one document")
	}
	r, _, err := supervise.Normalize(supervise.RouteRequest{Host: d.Host, Paths: d.Paths, Methods: d.Methods}, nil)
	if err != nil {
		return supervise.RouteRequest{}, err
	}
	r.Reason = ""
	return r, nil
}
