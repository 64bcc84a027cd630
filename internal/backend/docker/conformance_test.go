package docker

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/conformance"
)

func TestConformance(t *testing.T) {
	d0 := newDriver(t)
	cli, err := d0.client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bin := backendtest.StaticBinary(t)
	base := backendtest.BaseImage(t)
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T, root string) backend.Backend {
			d := New(Config{SidecarBinary: bin, StateRoot: root})
			t.Cleanup(func() { _ = d.Close() })
			return d
		},
		Spec: func(t *testing.T, slug string) *backend.Spec {
			spec := conformance.BaseSpec(t, slug)
			spec.Image = backend.Image{Name: "bot-bottle-test-tiny", Dockerfile: tinyImage, BuildArgs: map[string]string{"BASE_IMAGE": base}}
			spec.User = backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"}
			return spec
		},
		BreakSidecar: func(t *testing.T, _ backend.Backend, slug string) {
			if _, err := cli.ContainerKill(t.Context(), sidecarName(slug), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
				t.Fatal(err)
			}
		},
		Leftovers: func(t *testing.T, _ backend.Backend, slug string) []string {
			return dockerLeftovers(t, cli, slug)
		},
	})
}

// dockerLeftovers names the containers and networks of slug, in any
// state root.
func dockerLeftovers(t *testing.T, cli *client.Client, slug string) []string {
	t.Helper()
	cs, err := cli.ContainerList(t.Context(), client.ContainerListOptions{All: true, Filters: slugFilter(slug)})
	if err != nil {
		t.Fatal(err)
	}
	// Pool networks carry their bottle's slug in its claim, not a label.
	ns, err := cli.NetworkList(t.Context(), client.NetworkListOptions{Filters: make(client.Filters).Add("label", backend.LabelManaged+"=1")})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, c := range cs.Items {
		left = append(left, "container "+strings.Join(c.Names, ","))
	}
	for _, n := range ns.Items {
		if netLabels(n)[backend.LabelSlug] == slug {
			left = append(left, "network "+n.Name)
		}
	}
	return left
}
