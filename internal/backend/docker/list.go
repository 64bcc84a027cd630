package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

func slugFilter(slug string) client.Filters {
	return make(client.Filters).Add("label", backend.LabelManaged+"=1").Add("label", backend.LabelSlug+"="+slug)
}

// Stop implements backend.Backend. Before the sidecar goes, its audit log
// is saved to the bottle's state folder.
func (d *Driver) Stop(ctx context.Context, slug string) error {
	if h, ok := d.takeEarly(slug); ok {
		h.Close()
	}
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	found, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: slugFilter(slug)})
	if err != nil {
		return fmt.Errorf("listing the containers of %s: %w", slug, err)
	}
	var cs []container.Summary
	for _, c := range found.Items {
		if d.inRoot(c.Labels) {
			cs = append(cs, c)
		}
	}
	managed := make(client.Filters).Add("label", backend.LabelManaged+"=1")
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: managed})
	if err != nil {
		return fmt.Errorf("listing the networks of %s: %w", slug, err)
	}
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// Both containers are killed at once: an agent that outlives its
	// sidecar for a moment has no way out at all. Meanwhile each network
	// drops the running containers' endpoints itself and goes, rather than
	// wait for the kills to release them one after the other; then the
	// containers go.
	running := func(c container.Summary) bool {
		return c.State == "running" || c.State == "paused" || c.State == "restarting"
	}
	var killed, wg sync.WaitGroup
	for _, c := range cs {
		if !running(c) {
			continue
		}
		killed.Go(func() {
			_, err := cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "KILL"})
			if err != nil && !isNotFound(err) && !cerrdefs.IsConflict(err) {
				fail(fmt.Errorf("stopping container %s: %w", strings.Join(c.Names, ","), err))
			}
		})
	}
	for _, n := range ns.Items {
		if l := netLabels(n); l[backend.LabelSlug] != slug || !d.inRoot(l) {
			continue
		}
		wg.Go(func() {
			for _, c := range cs {
				if running(c) {
					// Not connected, or already released by the kill.
					_, _ = cli.NetworkDisconnect(ctx, n.ID, client.NetworkDisconnectOptions{Container: c.ID, Force: true})
				}
			}
			_, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			if err != nil && !isNotFound(err) {
				// An endpoint a kill was releasing as we came.
				killed.Wait()
				_, err = cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			}
			if err != nil && !isNotFound(err) {
				fail(fmt.Errorf("removing network %s: %w", n.Name, err))
				return
			}
			releaseClaim(n)
		})
	}
	killed.Wait()
	for _, c := range cs {
		wg.Go(func() {
			if c.Labels[backend.LabelRole] == backend.RoleSidecar {
				d.saveAudit(ctx, c.ID, c.Labels[backend.LabelStateDir])
			}
			_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !isNotFound(err) {
				fail(fmt.Errorf("removing container %s: %w", strings.Join(c.Names, ","), err))
			}
		})
	}
	wg.Wait()
	// A refill this process started ends before it does.
	d.bg.Wait()
	return errors.Join(errs...)
}

// saveAudit copies the sidecar's audit log to stateDir, if both exist.
func (d *Driver) saveAudit(ctx context.Context, id, stateDir string) {
	if stateDir == "" {
		return
	}
	if _, err := os.Stat(stateDir); err != nil {
		return
	}
	data, err := d.readFile(ctx, id, sidecarAudit)
	if err != nil || len(data) == 0 {
		return
	}
	out := filepath.Join(stateDir, "audit.jsonl")
	if err := os.WriteFile(out, data, 0o600); err != nil {
		d.log.Warn("saving the audit log", "file", out, "err", err)
	}
}

// List implements backend.Backend.
func (d *Driver) List(ctx context.Context) ([]backend.Instance, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	managed := make(client.Filters).Add("label", backend.LabelManaged+"=1")
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: managed})
	if err != nil {
		return nil, fmt.Errorf("listing bottles: %w", err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: managed})
	if err != nil {
		return nil, fmt.Errorf("listing bottle networks: %w", err)
	}
	bySlug := map[string]*backend.Instance{}
	get := func(l map[string]string) *backend.Instance {
		slug := l[backend.LabelSlug]
		in := bySlug[slug]
		if in == nil {
			in = &backend.Instance{Slug: slug, Backend: Name, Agent: l[backend.LabelAgent]}
			if b := l[backend.LabelBottles]; b != "" {
				in.Bottles = strings.Split(b, ",")
			}
			in.OwnerPID, _ = strconv.Atoi(l[backend.LabelOwner])
			in.Detached = l[labelDetached] == "1"
			bySlug[slug] = in
		}
		return in
	}
	running := map[string]int{}
	for _, c := range cs.Items {
		if c.Labels[backend.LabelSlug] == "" || !d.inRoot(c.Labels) {
			continue
		}
		in := get(c.Labels)
		in.Resources = append(in.Resources, "container "+strings.TrimPrefix(firstOr(c.Names), "/"))
		if t := time.Unix(c.Created, 0); in.Created.IsZero() || t.Before(in.Created) {
			in.Created = t
		}
		if c.State == "running" {
			running[in.Slug]++
		}
	}
	for _, n := range ns.Items {
		l := netLabels(n)
		if l[backend.LabelSlug] == "" || !d.inRoot(l) {
			continue
		}
		in := get(l)
		in.Resources = append(in.Resources, "network "+n.Name)
	}
	out := make([]backend.Instance, 0, len(bySlug))
	for _, in := range bySlug {
		switch running[in.Slug] {
		case 2:
			in.State = backend.StateRunning
		case 0:
			in.State = backend.StateStopped
		default:
			in.State = backend.StatePartial
		}
		sort.Strings(in.Resources)
		out = append(out, *in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// Logs implements backend.Backend.
func (d *Driver) Logs(ctx context.Context, slug string, w io.Writer) error {
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, c := range []struct{ name, title string }{{sidecarName(slug), "sidecar"}, {agentName(slug), "agent"}} {
		insp, err := cli.ContainerInspect(ctx, c.name, client.ContainerInspectOptions{})
		if isNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		found = true
		fmt.Fprintf(w, "== %s (%s)\n", c.title, c.name)
		logs, err := cli.ContainerLogs(ctx, c.name, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			return fmt.Errorf("reading the %s log: %w", c.title, err)
		}
		if insp.Container.Config.Tty {
			_, err = io.Copy(w, logs)
		} else {
			_, err = demux(w, w, logs)
		}
		_ = logs.Close()
		if err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
	}
	return nil
}
