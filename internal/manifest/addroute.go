package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RouteMatch is one matches entry to add to a bottle file's route.
type RouteMatch struct {
	Paths   []MatchPath
	Methods []string
}

// MatchPath is one path of a RouteMatch.
type MatchPath struct{ Type, Value string }

// AddRoute returns data, a bottle manifest, with m allowed on host: a new
// entry in the matches of host's route, or a new route for host. A route
// of host without matches already allows everything, and data comes back
// unchanged with added false. Only the frontmatter changes; the caller
// validates the result as a manifest before writing it.
func AddRoute(file string, data []byte, host string, m RouteMatch) (out []byte, added bool, err error) {
	var ds Diagnostics
	doc, ok := split(file, data, &ds)
	if !ok {
		return nil, false, errors.New(ds[0].String())
	}
	var root yaml.Node
	if err := yaml.Unmarshal(doc.yaml, &root); err != nil {
		return nil, false, fmt.Errorf("reading the frontmatter: %w", err)
	}
	if root.Kind == 0 {
		root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, false, errors.New("the frontmatter is not a mapping")
	}
	egress := mapValue(root.Content[0], "egress", yaml.MappingNode)
	routes := mapValue(egress, "routes", yaml.SequenceNode)
	if routes.Kind != yaml.SequenceNode || egress.Kind != yaml.MappingNode {
		return nil, false, errors.New("egress.routes is not a list of routes")
	}
	entry := matchNode(m)
	for _, rt := range routes.Content {
		if rt.Kind != yaml.MappingNode || !strings.EqualFold(strings.TrimSuffix(scalar(rt, "host"), "."), host) {
			continue
		}
		ms := lookup(rt, "matches")
		if ms == nil {
			return data, false, nil
		}
		if ms.Kind != yaml.SequenceNode {
			return nil, false, fmt.Errorf("route %s: matches is not a list", host)
		}
		ms.Content = append(ms.Content, entry)
		return render(doc, &root), true, nil
	}
	rt := &yaml.Node{Kind: yaml.MappingNode}
	rt.Content = append(rt.Content, str("host"), str(host))
	if len(m.Paths) > 0 || len(m.Methods) > 0 {
		rt.Content = append(rt.Content, str("matches"), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{entry}})
	}
	routes.Content = append(routes.Content, rt)
	return render(doc, &root), true, nil
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(m *yaml.Node, key string) string {
	if v := lookup(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// mapValue returns m's value for key, adding an empty one of kind when
// it is missing.
func mapValue(m *yaml.Node, key string, kind yaml.Kind) *yaml.Node {
	if v := lookup(m, key); v != nil {
		return v
	}
	v := &yaml.Node{Kind: kind}
	m.Content = append(m.Content, str(key), v)
	return v
}

func matchNode(m RouteMatch) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	if len(m.Paths) > 0 {
		ps := &yaml.Node{Kind: yaml.SequenceNode}
		for _, p := range m.Paths {
			ps.Content = append(ps.Content, &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle, Content: []*yaml.Node{str("type"), str(p.Type), str("value"), str(p.Value)}})
		}
		n.Content = append(n.Content, str("paths"), ps)
	}
	if len(m.Methods) > 0 {
		ms := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, meth := range m.Methods {
			ms.Content = append(ms.Content, str(meth))
		}
		n.Content = append(n.Content, str("methods"), ms)
	}
	return n
}

// render is the file of doc with its frontmatter replaced by root.
func render(doc document, root *yaml.Node) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(root)
	_ = enc.Close()
	var out bytes.Buffer
	out.WriteString("---\n")
	out.Write(b.Bytes())
	out.WriteString("---\n")
	out.WriteString(doc.body)
	return out.Bytes()
}
