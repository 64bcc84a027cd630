package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape"
)

// escapeImage is the agent image of the suite: real clients only.
const escapeImage = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl git ca-certificates dnsutils >/dev/null && rm -rf /var/lib/apt/lists/* \
 && useradd -u 1000 -m -s /bin/bash agent && mkdir -p /workspace && chown agent:agent /workspace
`

func TestEscapeSuite(t *testing.T) {
	d0 := newDriver(t)
	ctx := context.Background()
	cli, err := d0.client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inet := fakeInternet(t, cli)
	d := New(Config{SidecarBinary: backendtest.StaticBinary(t), EgressNetwork: inet.network})
	t.Cleanup(func() { _ = d.Close() })
	// The suite's bottles live in one home, whose pool is full before
	// the first: the bottles under attack are on pool networks.
	state := poolState(t, cli)
	if err := (&pool{d: d, owner: state}).fill(ctx, d.poolKinds()); err != nil {
		t.Fatal(err)
	}

	host := backendtest.ForbiddenService(t, "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(host)
	services := []string{}
	for _, ip := range []string{inet.gateway, "172.17.0.1"} {
		if ip != "" {
			services = append(services, net.JoinHostPort(ip, port))
		}
	}
	h := &escape.Harness{
		Backend: inHome{d, state},
		Internet: escape.Internet{
			Upstream:     inet.upstream,
			Control:      "http://" + net.JoinHostPort(inet.upstream, "8081"),
			CAFile:       inet.caFile,
			HostServices: services,
		},
		Image:    backend.Image{Name: "bot-bottle-test-escape", Dockerfile: escapeImage, BuildArgs: map[string]string{"BASE_IMAGE": backendtest.BaseImage(t)}},
		User:     backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"},
		Probe:    backendtest.BuildStatic(t, "./internal/testinfra/escape/probe"),
		Resolver: true,
		// The host side of the sidecar's "internet", as a forge would be.
		GitHost: inet.gateway,
		Addrs: func(t *testing.T, slug string) escape.Addrs {
			a, pooled := bottleAddrs(t, cli, slug)
			if !pooled {
				t.Errorf("bottle %s is not on a pool network; the suite does not attack the pool", slug)
			}
			return a
		},
		KillSidecar: func(t *testing.T, slug string) {
			if _, err := cli.ContainerKill(ctx, sidecarName(slug), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
				t.Fatal(err)
			}
		},
	}
	escape.Run(t, h)
}

// inHome starts bottles as launch lays them out: a state folder in a
// home's, here a link to the one the suite made.
type inHome struct {
	*Driver
	state string
}

func (b inHome) Start(ctx context.Context, spec *backend.Spec, progress io.Writer) error {
	link := filepath.Join(b.state, spec.Slug)
	if err := os.MkdirAll(b.state, 0o700); err != nil {
		return err
	}
	if err := os.Symlink(spec.StateDir, link); err != nil {
		return err
	}
	spec.StateDir = link
	return b.Driver.Start(ctx, spec, progress)
}

// bottleAddrs reads a bottle's addresses on its own network, and whether
// that network came from the pool.
func bottleAddrs(t *testing.T, cli *client.Client, slug string) (escape.Addrs, bool) {
	t.Helper()
	ctx := context.Background()
	// The agent is on its bottle network alone; a pool network's name
	// is not the bottle's.
	agent, err := cli.ContainerInspect(ctx, agentName(slug), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var netID string
	for _, ep := range agent.Container.NetworkSettings.Networks {
		netID = ep.NetworkID
	}
	nw, err := cli.NetworkInspect(ctx, netID, client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var a escape.Addrs
	for _, c := range nw.Network.IPAM.Config {
		if c.Gateway.IsValid() {
			a.Gateway = c.Gateway.String()
		}
	}
	for name, ip := range map[string]*string{sidecarName(slug): &a.Sidecar, agentName(slug): &a.Agent} {
		insp, err := cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range insp.Container.NetworkSettings.Networks {
			if ep.NetworkID == nw.Network.ID {
				*ip = ep.IPAddress.String()
			}
		}
	}
	return a, nw.Network.Labels[labelPool] != ""
}

type internet struct {
	network, upstream, gateway, caFile string
}

// fakeInternet creates an internal network holding upstreamd, the only
// "internet" the sidecar can reach.
func fakeInternet(t *testing.T, cli *client.Client) internet {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	caFile, certPEM, keyPEM := backendtest.UpstreamCert(t, dir, escape.AllowedHost, escape.UnlistedHost, escape.LiveHost)
	upstreamd, err := os.ReadFile(backendtest.BuildStatic(t, "./internal/testinfra/escape/upstreamd"))
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{})
	tag := "bot-bottle-test-upstreamd:latest"
	dockerfile := "FROM scratch\nCOPY upstreamd cert.pem key.pem /\nENTRYPOINT [\"/upstreamd\", \"--cert\", \"/cert.pem\", \"--key\", \"/key.pem\"]\n"
	_, _ = cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true})
	var progress bytes.Buffer
	if err := d.build(ctx, tag, dockerfile, map[string][]byte{"upstreamd": upstreamd, "cert.pem": certPEM, "key.pem": keyPEM}, nil, &progress); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	name := fmt.Sprintf("bot-bottle-test-internet-%d", time.Now().UnixNano()%1_000_000)
	nw, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Internal: true, Labels: map[string]string{"io.bot-bottle.test": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = cli.NetworkRemove(context.Background(), nw.ID, client.NetworkRemoveOptions{}) })
	c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: tag, Labels: map[string]string{"io.bot-bottle.test": "1"}},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(nw.ID)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	insp, err := cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inet := internet{network: nw.ID, caFile: caFile}
	for _, ep := range insp.Container.NetworkSettings.Networks {
		inet.upstream, inet.gateway = ep.IPAddress.String(), ep.Gateway.String()
	}
	// Wait for the control API.
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(inet.upstream, "8081"), time.Second)
		if err == nil {
			_ = conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstreamd did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return inet
}
