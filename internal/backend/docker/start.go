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
	if _, err := d.client(ctx); err != nil {
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
	// The images, the runtime and the networks are independent.
	var sidecarTag, agentTag, runtime string
	var n nets
	var sidecarErr, agentErr, runtimeErr, netErr error
	var wg sync.WaitGroup
	wg.Go(func() { sidecarTag, sidecarErr = d.sidecarImage(ctx, progress) })
	wg.Go(func() { agentTag, agentErr = d.agentImage(ctx, spec.Image, progress) })
	wg.Go(func() { runtime, runtimeErr = d.runtime(ctx) })
	wg.Go(func() { n, netErr = d.networks(ctx, spec) })
	wg.Wait()
	if err := errors.Join(sidecarErr, agentErr, runtimeErr, netErr); err != nil {
		return err
	}
	phase("images and networks")
	if spec.Detached {
		// This process ends with Start: the pool is refilled while the
		// containers start.
		d.pool(spec).refill(d.poolKinds())
		defer d.bg.Wait()
	}
	// The sidecar goes first: the agent's DNS server and proxy are its
	// address, and the agent's command must find it serving. That address
	// is known before it runs, so the agent is created and provisioned
	// while the sidecar starts.
	sidecarID, err := d.createSidecar(ctx, spec, sidecarTag, runtime, n)
	if err != nil {
		return err
	}
	var agentID string
	wg.Go(func() { agentID, agentErr = d.createAgent(ctx, spec, agentTag, runtime, n) })
	sidecarErr = d.startSidecar(ctx, spec, sidecarID, n)
	wg.Wait()
	if err := errors.Join(sidecarErr, agentErr); err != nil {
		return err
	}
	phase("sidecar")
	if err := d.startAgent(ctx, spec, agentID); err != nil {
		return err
	}
	phase("agent")
	if !spec.Detached {
		d.pool(spec).refill(d.poolKinds())
	}
	return nil
}

// createSidecar creates the sidecar on both networks. Its state folder
// (sidecarVar) comes with its image.
func (d *Driver) createSidecar(ctx context.Context, spec *backend.Spec, tag, runtime string, n nets) (string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(n.bottle),
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
	if _, err := cli.NetworkConnect(ctx, n.egress, client.NetworkConnectOptions{Container: created.ID}); err != nil {
		return "", fmt.Errorf("connecting the sidecar to the egress network: %w", err)
	}
	return created.ID, nil
}

// startSidecar starts the sidecar, hands it its launch document on its
// standard input, waits until it serves, and checks that it has the
// address the agent was given. Nothing of the document touches the
// container's filesystem, its configuration or its log: the secrets live
// in the sidecar's memory alone.
func (d *Driver) startSidecar(ctx context.Context, spec *backend.Spec, id string, n nets) error {
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	doc, err := contract.FromSpec(spec, contract.Runtime{
		Listen:  ":" + strconv.Itoa(backend.PortEgress),
		DNS:     ":" + strconv.Itoa(backend.PortDNS),
		Audit:   sidecarAudit,
		GitDir:  sidecarVar + "/git",
		Control: sidecarControl,
	})
	if err != nil {
		return err
	}
	docBytes, err := doc.Marshal()
	if err != nil {
		return err
	}
	att, err := cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		return fmt.Errorf("attaching to the sidecar: %w", err)
	}
	defer att.Close()
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting the sidecar: %w", err)
	}
	if err := d.handOver(ctx, id, att.HijackedResponse, docBytes); err != nil {
		return err
	}
	insp, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspecting the sidecar: %w", err)
	}
	for _, ep := range insp.Container.NetworkSettings.Networks {
		if ep.NetworkID != n.bottle {
			continue
		}
		if ep.IPAddress != n.sidecarIP {
			// Something else took the first address: the agent's proxy
			// and DNS server would not be its sidecar.
			return fmt.Errorf("the sidecar got address %s on the bottle network, not %s; run 'bot-bottle cleanup' and start again", ep.IPAddress, n.sidecarIP)
		}
		return nil
	}
	return fmt.Errorf("the sidecar has no address on the bottle network")
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

// createAgent creates and provisions the agent runtime, pointed at the
// sidecar's address to come.
func (d *Driver) createAgent(ctx context.Context, spec *backend.Spec, tag, runtime string, n nets) (string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	noSetID, err := agentSeccomp()
	if err != nil {
		return "", err
	}
	env := contract.AgentEnv(spec, contract.Agent{Proxy: sidecarProxyURL(n.sidecarIP.String()), CAFile: backend.AgentCAFile})
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(n.bottle),
		DNS:         []netip.Addr{n.sidecarIP},
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
			return "", err
		}
	}
	if spec.HomeDir != "" {
		m, err := homeMount(spec)
		if err != nil {
			return "", err
		}
		hc.Mounts = append(hc.Mounts, m)
	}
	workdir := spec.Workspace.Path
	if workdir == "" {
		workdir = spec.User.Home
	}
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: agentName(spec.Slug),
		Config: &container.Config{
			Image:      tag,
			Entrypoint: []string{},
			Cmd:        spec.Command,
			Env:        env,
			User:       fmt.Sprintf("%d:%d", spec.User.UID, spec.User.GID),
			WorkingDir: workdir,
			Tty:        spec.TTY,
			// Without a terminal, the first attach feeds stdin and its
			// end closes it; a detached command's stdin is closed.
			OpenStdin:    spec.TTY || !spec.Detached,
			StdinOnce:    !spec.TTY,
			AttachStdin:  spec.TTY || !spec.Detached,
			AttachStdout: true,
			AttachStderr: true,
			Labels:       labels(spec, backend.RoleAgent),
		},
		HostConfig:       hc,
		NetworkingConfig: &network.NetworkingConfig{},
	})
	if err != nil {
		return "", fmt.Errorf("creating the agent container: %w", err)
	}
	files, err := d.agentFiles(spec)
	if err != nil {
		return "", err
	}
	if err := d.copyIn(ctx, created.ID, files, spec.User.Home, spec.Workspace.Path); err != nil {
		return "", fmt.Errorf("provisioning the agent container: %w", err)
	}
	if spec.Workspace.Mode == backend.WorkspaceCopy {
		if err := d.copyWorkspace(ctx, created.ID, spec); err != nil {
			return "", err
		}
	}
	if !spec.Detached {
		// Someone is about to attach: do it before the start, or the
		// first screen (a prompt, a TUI's first frame) is lost, and
		// stdin is not fed.
		att, err := cli.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
		if err != nil {
			return "", fmt.Errorf("attaching to the agent container: %w", err)
		}
		d.mu.Lock()
		if d.early == nil {
			d.early = map[string]client.HijackedResponse{}
		}
		d.early[spec.Slug] = att.HijackedResponse
		d.mu.Unlock()
	}
	return created.ID, nil
}

// startAgent starts the agent runtime's command.
func (d *Driver) startAgent(ctx context.Context, spec *backend.Spec, id string) error {
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if h, ok := d.takeEarly(spec.Slug); ok {
			h.Close()
		}
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
