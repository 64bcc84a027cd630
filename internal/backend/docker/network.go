package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// nets are the networks of one bottle.
type nets struct {
	bottle, egress string // IDs
	// sidecarIP is the address Docker gives the first container started
	// on the bottle network: the sidecar, started before the agent. The
	// agent is created with it before either runs; the sidecar's real
	// address is checked against it after its start.
	sidecarIP netip.Addr
}

// networks takes the bottle's two networks from the pool, creating those
// it has none of, side by side.
func (d *Driver) networks(ctx context.Context, spec *backend.Spec) (nets, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return nets{}, err
	}
	got := d.pool(spec).take(ctx, spec.Slug, d.poolKinds())
	var n nets
	var bottleErr, egressErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		nw, ok := got[kindBottle]
		if !ok {
			nw, bottleErr = d.createNetwork(ctx, bottleNetName(spec.Slug), true, labels(spec, backend.RoleNetwork))
		}
		if bottleErr == nil {
			n.bottle = nw.ID
			n.sidecarIP, bottleErr = firstAddr(nw)
		}
	})
	wg.Go(func() {
		switch nw, ok := got[kindEgress]; {
		case ok:
			n.egress = nw.ID
		case d.cfg.EgressNetwork != "":
			n.egress = d.cfg.EgressNetwork
			if _, err := cli.NetworkInspect(ctx, n.egress, client.NetworkInspectOptions{}); err != nil {
				egressErr = fmt.Errorf("egress network %q (BOT_BOTTLE_DOCKER_EGRESS_NETWORK): %w", n.egress, err)
			}
		default:
			nw, egressErr = d.createNetwork(ctx, egressNetName(spec.Slug), false, labels(spec, backend.RoleNetwork))
			n.egress = nw.ID
		}
	})
	wg.Wait()
	return n, errors.Join(bottleErr, egressErr)
}

// poolKinds are the kinds of network a bottle takes from the pool: both,
// unless the sidecars share an egress network.
func (d *Driver) poolKinds() []string {
	if d.cfg.EgressNetwork != "" {
		return []string{kindBottle}
	}
	return []string{kindBottle, kindEgress}
}

// firstAddr is the address Docker's IPAM hands the first endpoint of a
// fresh network: the one after its gateway.
func firstAddr(nw network.Network) (netip.Addr, error) {
	for _, c := range nw.IPAM.Config {
		if c.Gateway.Is4() && c.Subnet.Contains(c.Gateway.Next()) {
			return c.Gateway.Next(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("network %s has no IPv4 gateway to place the sidecar after", nw.Name)
}

// createNetwork creates a labelled bridge network and returns it. The
// bottle network is internal and its bridge holds no address, so that the
// agent has no route off it and cannot reach the host through a gateway.
func (d *Driver) createNetwork(ctx context.Context, name string, internal bool, l map[string]string) (network.Network, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return network.Network{}, err
	}
	// The client does not ask the daemon to refuse duplicate names; pool
	// networks have random ones.
	if l[labelPool] == "" {
		found, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
		if err != nil {
			return network.Network{}, fmt.Errorf("listing networks: %w", err)
		}
		for _, n := range found.Items {
			if n.Name == name {
				return network.Network{}, fmt.Errorf("network %s already exists; run 'bot-bottle cleanup'", name)
			}
		}
	}
	opts := client.NetworkCreateOptions{Driver: "bridge", Internal: internal, Labels: l}
	if internal {
		opts.Options = map[string]string{
			"com.docker.network.bridge.inhibit_ipv4":         "true",
			"com.docker.network.bridge.enable_ip_masquerade": "false",
		}
	}
	res, err := cli.NetworkCreate(ctx, name, opts)
	if err != nil {
		return network.Network{}, fmt.Errorf("creating network %s: %w", name, err)
	}
	insp, err := cli.NetworkInspect(ctx, res.ID, client.NetworkInspectOptions{})
	if err != nil {
		return network.Network{}, fmt.Errorf("inspecting network %s: %w", name, err)
	}
	return insp.Network.Network, nil
}
