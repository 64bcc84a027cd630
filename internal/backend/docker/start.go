package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/sidecar/contract"
)

// Paths inside the sidecar image.
const (
	sidecarUID   = 65532
	sidecarVar   = "/var/lib/bot-bottle"
	sidecarAudit = sidecarVar + "/audit.jsonl"
	// sidecarControl is the control channel's listener: loopback of the
	// sidecar's own network namespace, which the agent's is not; the host
	// reaches it through the Docker API (see DialControl).
	sidecarControl = "127.0.0.1:9199"
)

// Start implements backend.Backend.
func (d *Driver) Start(ctx context.Context, spec *backend.Spec, progress io.Writer) (err error) {
	if progress == nil {
		progress = io.Discard
	}
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	release, err := d.claim(ctx, spec.Slug)
	if err != nil {
		return err
	}
	defer release()
	defer func() {
		if err != nil {
			// A failed start leaves nothing behind, even when ctx ended.
			cleanCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if rerr := d.Stop(cleanCtx, spec.Slug); rerr != nil {
				d.log.Warn("removing a failed bottle", "slug", spec.Slug, "err", rerr)
			}
		}
	}()
	t0 := time.Now()
	phase := func(name string) {
		d.log.Debug("start phase", "slug", spec.Slug, "phase", name, "ms", time.Since(t0).Milliseconds())
	}
	sidecarTag, err := d.sidecarImage(ctx, progress)
	if err != nil {
		return err
	}
	agentTag, err := d.agentImage(ctx, spec.Image, progress)
	if err != nil {
		return err
	}
	phase("images")
	runtime, err := d.runtime(ctx)
	if err != nil {
		return err
	}
	// The two networks are independent: create them side by side.
	var bottleNet, egressNet string
	var bottleErr, egressErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		bottleNet, bottleErr = d.createNetwork(ctx, bottleNetName(spec.Slug), true, labels(spec, backend.RoleNetwork))
	})
	wg.Go(func() {
		if egressNet = d.cfg.EgressNetwork; egressNet == "" {
			egressNet, egressErr = d.createNetwork(ctx, egressNetName(spec.Slug), false, labels(spec, backend.RoleNetwork))
		} else if _, err := cli.NetworkInspect(ctx, egressNet, client.NetworkInspectOptions{}); err != nil {
			egressErr = fmt.Errorf("egress network %q (BOT_BOTTLE_DOCKER_EGRESS_NETWORK): %w", egressNet, err)
		}
	})
	wg.Wait()
	if err := errors.Join(bottleErr, egressErr); err != nil {
		return err
	}
	phase("networks")
	sidecarIP, err := d.startSidecar(ctx, spec, sidecarTag, runtime, bottleNet, egressNet)
	if err != nil {
		return err
	}
	phase("sidecar")
	err = d.startAgent(ctx, spec, agentTag, runtime, bottleNet, sidecarIP)
	phase("agent")
	return err
}

// createNetwork creates a labelled bridge network and returns its ID. The
// bottle network is internal and its bridge holds no address, so that the
// agent has no route off it and cannot reach the host through a gateway.
func (d *Driver) createNetwork(ctx context.Context, name string, internal bool, l map[string]string) (string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	// The client does not ask the daemon to refuse duplicate names.
	found, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		return "", fmt.Errorf("listing networks: %w", err)
	}
	for _, n := range found.Items {
		if n.Name == name {
			return "", fmt.Errorf("network %s already exists; run 'bot-bottle cleanup'", name)
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
		return "", fmt.Errorf("creating network %s: %w", name, err)
	}
	return res.ID, nil
}

// startSidecar creates and starts the sidecar, hands it its launch
// document on its standard input, waits until it serves, and returns its
// address on the bottle network. Nothing of the document touches the
// container's filesystem, its configuration or its log: the secrets live
// in the sidecar's memory alone.
func (d *Driver) startSidecar(ctx context.Context, spec *backend.Spec, tag, runtime, bottleNet, egressNet string) (string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	doc, err := contract.FromSpec(spec, contract.Runtime{
		Listen:  ":" + strconv.Itoa(backend.PortEgress),
		DNS:     ":" + strconv.Itoa(backend.PortDNS),
		Audit:   sidecarAudit,
		GitDir:  sidecarVar + "/git",
		Control: sidecarControl,
	})
	if err != nil {
		return "", err
	}
	docBytes, err := doc.Marshal()
	if err != nil {
		return "", err
	}
	files := []entry{
		{Name: sidecarVar, Mode: 0o700, UID: sidecarUID, GID: sidecarUID, Dir: true},
	}
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(bottleNet),
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges"},
		Runtime:     runtime,
		// Port 53 without CAP_NET_BIND_SERVICE.
		Sysctls:   map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"},
		Resources: container.Resources{PidsLimit: new(int64(256)), Memory: 512 << 20},
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m"}},
	}
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: sidecarName(spec.Slug),
		Config: &container.Config{
			Image:  tag,
			Labels: labels(spec, backend.RoleSidecar),
			// The launch document arrives on stdin, which closes after it.
			OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
		},
		HostConfig: hc,
	})
	if err != nil {
		return "", fmt.Errorf("creating the sidecar: %w", err)
	}
	id := created.ID
	if _, err := cli.NetworkConnect(ctx, egressNet, client.NetworkConnectOptions{Container: id}); err != nil {
		return "", fmt.Errorf("connecting the sidecar to the egress network: %w", err)
	}
	if err := d.copyIn(ctx, id, files); err != nil {
		return "", fmt.Errorf("provisioning the sidecar: %w", err)
	}
	att, err := cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		return "", fmt.Errorf("attaching to the sidecar: %w", err)
	}
	defer att.Close()
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("starting the sidecar: %w", err)
	}
	if err := d.handOver(ctx, id, att.HijackedResponse, docBytes); err != nil {
		return "", err
	}
	insp, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspecting the sidecar: %w", err)
	}
	for _, ep := range insp.Container.NetworkSettings.Networks {
		if ep.NetworkID == bottleNet && ep.IPAddress.IsValid() {
			return ep.IPAddress.String(), nil
		}
	}
	return "", fmt.Errorf("the sidecar has no address on the bottle network")
}

// handOver writes the launch document to the sidecar's attached stdin,
// closes it, and waits for the readiness line on its stdout; when the
// sidecar fails first, the error carries the end of its log.
func (d *Driver) handOver(ctx context.Context, id string, att client.HijackedResponse, doc []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { att.Close() })
	defer stop()
	if _, err := att.Conn.Write(doc); err != nil {
		return fmt.Errorf("handing the sidecar its launch document: %w", err)
	}
	if err := att.CloseWrite(); err != nil {
		return fmt.Errorf("handing the sidecar its launch document: %w", err)
	}
	pr, pw := io.Pipe()
	go func() { _, err := demux(pw, io.Discard, att.Reader); pw.CloseWithError(err) }()
	_, err := contract.WaitReady(pr, func() string { return d.logTail(context.WithoutCancel(ctx), id, 20) })
	if ctx.Err() != nil && err != nil {
		return fmt.Errorf("the sidecar did not become ready: %w", ctx.Err())
	}
	return err
}

// logTail returns the last lines of a container's log, for an error.
func (d *Driver) logTail(ctx context.Context, id string, n int) string {
	cli, err := d.client(ctx)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	logs, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return ""
	}
	defer func() { _ = logs.Close() }()
	var b strings.Builder
	_, _ = demux(&b, &b, logs)
	return b.String()
}

// startAgent creates, provisions and starts the agent runtime.
func (d *Driver) startAgent(ctx context.Context, spec *backend.Spec, tag, runtime, bottleNet, sidecarIP string) error {
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	dns, err := netip.ParseAddr(sidecarIP)
	if err != nil {
		return fmt.Errorf("sidecar address %q: %w", sidecarIP, err)
	}
	noSetID, err := agentSeccomp()
	if err != nil {
		return err
	}
	env := contract.AgentEnv(spec, contract.Agent{Proxy: sidecarProxyURL(sidecarIP), CAFile: backend.AgentCAFile})
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(bottleNet),
		DNS:         []netip.Addr{dns},
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges", noSetID},
		Runtime:     runtime,
		Init:        new(true),
		LogConfig:   container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m"}},
		Resources: container.Resources{
			NanoCPUs: spec.Resources.MilliCPUs * 1_000_000,
			Memory:   spec.Resources.Memory,
		},
	}
	if spec.Resources.Pids > 0 {
		hc.PidsLimit = &spec.Resources.Pids
	}
	if spec.Workspace.Mode == backend.WorkspaceMount {
		if hc.Mounts, err = workspaceMounts(spec.Workspace); err != nil {
			return err
		}
	}
	workdir := spec.Workspace.Path
	if workdir == "" {
		workdir = spec.User.Home
	}
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: agentName(spec.Slug),
		Config: &container.Config{
			Image:        tag,
			Entrypoint:   []string{},
			Cmd:          spec.Command,
			Env:          env,
			User:         fmt.Sprintf("%d:%d", spec.User.UID, spec.User.GID),
			WorkingDir:   workdir,
			Tty:          spec.TTY,
			OpenStdin:    true,
			AttachStdin:  true,
			AttachStdout: true,
			AttachStderr: true,
			Labels:       labels(spec, backend.RoleAgent),
		},
		HostConfig:       hc,
		NetworkingConfig: &network.NetworkingConfig{},
	})
	if err != nil {
		return fmt.Errorf("creating the agent container: %w", err)
	}
	files, err := d.agentFiles(spec)
	if err != nil {
		return err
	}
	if err := d.copyIn(ctx, created.ID, files, spec.User.Home, spec.Workspace.Path); err != nil {
		return fmt.Errorf("provisioning the agent container: %w", err)
	}
	if spec.Workspace.Mode == backend.WorkspaceCopy {
		if err := d.copyWorkspace(ctx, created.ID, spec); err != nil {
			return err
		}
	}
	if spec.TTY && !spec.Detached {
		// Someone is about to attach: do it before the start, or the
		// first screen (a prompt, a TUI's first frame) is lost.
		att, err := cli.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
		if err != nil {
			return fmt.Errorf("attaching to the agent container: %w", err)
		}
		d.mu.Lock()
		if d.early == nil {
			d.early = map[string]client.HijackedResponse{}
		}
		d.early[spec.Slug] = att.HijackedResponse
		d.mu.Unlock()
	}
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		d.takeEarly(spec.Slug)
		return fmt.Errorf("starting the agent container: %w", err)
	}
	return nil
}

// agentFiles is what goes into the agent runtime before it starts: the
// bottle CA, as its own file and as the whole system bundle, and the spec's
// files. Every TLS connection out of a bottle ends at the sidecar, which
// presents certificates of this CA, so the bottle trusts it alone: no other
// root could verify anything the agent can reach.
func (d *Driver) agentFiles(spec *backend.Spec) ([]entry, error) {
	caPEM, err := os.ReadFile(spec.CADir + "/ca.crt")
	if err != nil {
		return nil, fmt.Errorf("reading the bottle CA: %w", err)
	}
	files := []entry{
		{Name: backend.AgentCAFile, Mode: 0o644, Data: caPEM},
		{Name: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: caPEM},
	}
	sorted := append([]backend.File(nil), spec.Files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	for _, f := range sorted {
		e := entry{Name: f.Path, Mode: f.Mode, Data: f.Data}
		if !f.Root {
			e.UID, e.GID = spec.User.UID, spec.User.GID
		}
		files = append(files, e)
	}
	return files, nil
}

// takeEarly returns, and forgets, the stream attached before slug started.
func (d *Driver) takeEarly(slug string) (client.HijackedResponse, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, ok := d.early[slug]
	delete(d.early, slug)
	return h, ok
}
