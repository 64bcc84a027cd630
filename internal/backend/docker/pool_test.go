package docker

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

func TestFirstAddr(t *testing.T) {
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	tests := []struct {
		name string
		ipam []network.IPAMConfig
		want string
	}{
		{"after the gateway", []network.IPAMConfig{{Subnet: pfx("172.18.0.0/16"), Gateway: addr("172.18.0.1")}}, "172.18.0.2"},
		{"IPv4 of two", []network.IPAMConfig{{Subnet: pfx("fd00::/64"), Gateway: addr("fd00::1")}, {Subnet: pfx("10.9.0.0/24"), Gateway: addr("10.9.0.1")}}, "10.9.0.2"},
		{"gateway last", []network.IPAMConfig{{Subnet: pfx("10.9.0.0/30"), Gateway: addr("10.9.0.3")}}, ""},
		{"no gateway", []network.IPAMConfig{{Subnet: pfx("10.9.0.0/24")}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := firstAddr(network.Network{Name: "n", IPAM: network.IPAM{Config: tt.ipam}})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestClaimIsExclusive(t *testing.T) {
	p := &pool{owner: filepath.Join(t.TempDir(), stateDirName)}
	if err := os.MkdirAll(p.dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	var wins sync.WaitGroup
	won := make(chan string, 8)
	for i := range 8 {
		wins.Go(func() {
			if slug := fmt.Sprintf("b%d", i); p.claim("net1", slug) {
				won <- slug
			}
		})
	}
	wins.Wait()
	close(won)
	var winners []string
	for s := range won {
		winners = append(winners, s)
	}
	if len(winners) != 1 {
		t.Fatalf("winners %v, want one", winners)
	}
	slug, pid, ok := claimOf(network.Summary{Network: network.Network{ID: "net1", Labels: map[string]string{labelPool: p.owner}}})
	if diff := cmp.Diff([]any{winners[0], os.Getpid(), true}, []any{slug, pid, ok}); diff != "" {
		t.Errorf("claim (-want +got):\n%s", diff)
	}
}

// poolState is the state folder of a home for a test, whose pool networks go
// with the test.
func poolState(t *testing.T, cli *client.Client) string {
	t.Helper()
	stateDir := filepath.Join(t.TempDir(), stateDirName)
	t.Cleanup(func() {
		ctx := context.Background()
		ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", labelPool+"="+stateDir)})
		if err != nil {
			return
		}
		for _, n := range ns.Items {
			_, _ = cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		}
	})
	return stateDir
}

func poolSpec(t *testing.T, stateDir, slug string) *backend.Spec {
	t.Helper()
	spec := testSpec(t, slug, "sleep", "infinity")
	spec.StateDir = filepath.Join(stateDir, slug)
	if err := os.MkdirAll(spec.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return spec
}

// bottleNetworks returns the IDs of the networks of a bottle's containers.
func bottleNetworks(t *testing.T, cli *client.Client, slug string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, name := range []string{agentName(slug), sidecarName(slug)} {
		insp, err := cli.ContainerInspect(context.Background(), name, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range insp.Container.NetworkSettings.Networks {
			ids[ep.NetworkID] = true
		}
	}
	return ids
}

func idlePool(t *testing.T, cli *client.Client, stateDir string) map[string]string {
	t.Helper()
	ns, err := cli.NetworkList(context.Background(), client.NetworkListOptions{Filters: make(client.Filters).Add("label", labelPool+"="+stateDir)})
	if err != nil {
		t.Fatal(err)
	}
	idle := map[string]string{}
	for _, n := range ns.Items {
		if _, _, claimed := claimOf(n); !claimed {
			idle[n.ID] = n.Labels[labelPoolKind]
		}
	}
	return idle
}

// TestPoolNetworkServesOneBottle: bottles that start at once from a pool
// of one network of each kind never share a network; the pool network
// goes with its bottle, and the pool is refilled.
func TestPoolNetworkServesOneBottle(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	cli, err := d.client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := poolState(t, cli)
	base := fmt.Sprintf("pool-%d", time.Now().UnixNano()%1_000_000)
	start := func(slug string) error {
		t.Cleanup(func() { _ = d.Stop(context.Background(), slug) })
		var progress bytes.Buffer
		if err := d.Start(ctx, poolSpec(t, stateDir, slug), &progress); err != nil {
			return fmt.Errorf("start %s: %w\n%s", slug, err, progress.String())
		}
		return nil
	}
	first := base + "-a"
	if err := start(first); err != nil {
		t.Fatal(err)
	}
	d.bg.Wait()
	pooled := idlePool(t, cli, stateDir)
	if kinds := strings.Join(sortedKeys(invert(pooled)), ","); kinds != "bottle,egress" {
		t.Fatalf("pool after the first start: %v", pooled)
	}
	racers := []string{base + "-b", base + "-c", base + "-d"}
	errs := make([]error, len(racers))
	var wg sync.WaitGroup
	for i, slug := range racers {
		wg.Go(func() { errs[i] = start(slug) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	owner := map[string]string{}
	took := ""
	for _, slug := range append([]string{first}, racers...) {
		for id := range bottleNetworks(t, cli, slug) {
			if other, ok := owner[id]; ok {
				t.Fatalf("network %s serves %s and %s", id, other, slug)
			}
			owner[id] = slug
			if _, ok := pooled[id]; ok {
				took = slug
			}
		}
	}
	if took == "" {
		t.Fatal("no bottle took a pool network; the test proves nothing")
	}
	netsOf := bottleNetworks(t, cli, took)
	if err := d.Stop(ctx, took); err != nil {
		t.Fatal(err)
	}
	for id := range netsOf {
		if _, err := cli.NetworkInspect(ctx, id, client.NetworkInspectOptions{}); !isNotFound(err) {
			t.Errorf("network %s outlived its bottle: %v", id, err)
		}
		if _, err := os.Stat(filepath.Join(poolDir(stateDir), id)); !os.IsNotExist(err) {
			t.Errorf("the claim on %s outlived its network: %v", id, err)
		}
	}
	d.bg.Wait()
	if got := len(idlePool(t, cli, stateDir)); got != 2 {
		t.Errorf("%d idle networks after the refill, want 2", got)
	}
}

func invert(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[v] = k
	}
	return out
}

// TestLeftPoolNetworks: a pool network whose claiming process died before
// its bottle had containers is an orphan that List shows and Stop removes;
// the pool of a home that is gone is removed by the next refill.
func TestLeftPoolNetworks(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	cli, err := d.client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := poolState(t, cli)
	host, _ := os.Hostname()
	mk := func(owner string) network.Network {
		t.Helper()
		nw, err := d.createNetwork(ctx, "bot-bottle-pool-test-"+randHex(4), true, map[string]string{
			backend.LabelManaged: "1", backend.LabelRole: backend.RoleNetwork,
			labelPool: owner, labelPoolKind: kindBottle, labelPoolHost: host,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = cli.NetworkRemove(context.Background(), nw.ID, client.NetworkRemoveOptions{}) })
		return nw
	}
	p := &pool{d: d, owner: stateDir}
	if err := os.MkdirAll(p.dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	leaked := mk(stateDir)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	slug := fmt.Sprintf("ghost-%d", time.Now().UnixNano()%1_000_000)
	if err := os.WriteFile(filepath.Join(p.dir(), leaked.ID), fmt.Appendf(nil, "%s %d\n", slug, dead.Process.Pid), 0o600); err != nil {
		t.Fatal(err)
	}
	gone := mk(filepath.Join(t.TempDir(), "removed-home", stateDirName))

	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *backend.Instance
	for i := range list {
		if list[i].Slug == slug {
			found = &list[i]
		}
	}
	want := &backend.Instance{Slug: slug, Backend: Name, State: "stopped", OwnerPID: dead.Process.Pid, Resources: []string{"network " + leaked.Name}}
	if diff := cmp.Diff(want, found); diff != "" {
		t.Fatalf("list (-want +got):\n%s", diff)
	}
	if err := d.Stop(ctx, slug); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.NetworkInspect(ctx, leaked.ID, client.NetworkInspectOptions{}); !isNotFound(err) {
		t.Errorf("the left pool network is still there: %v", err)
	}
	if err := p.fill(ctx, []string{kindBottle}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.NetworkInspect(ctx, gone.ID, client.NetworkInspectOptions{}); !isNotFound(err) {
		t.Errorf("the pool network of a removed home is still there: %v", err)
	}
	if got := idlePool(t, cli, stateDir); len(got) != 1 {
		t.Errorf("idle pool after a refill: %v", got)
	}
}
