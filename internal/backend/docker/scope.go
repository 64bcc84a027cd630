package docker

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// inRoot reports whether a resource with labels l belongs to a bottle of
// this driver's state root: its state folder is below Config.StateRoot.
// Without a root, every bottle is.
func (d *Driver) inRoot(l map[string]string) bool {
	if d.cfg.StateRoot == "" {
		return true
	}
	dir := l[backend.LabelStateDir]
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(filepath.Clean(d.cfg.StateRoot), filepath.Clean(dir))
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel)
}

// claim refuses a slug this driver is starting, or whose resources
// exist; release ends the claim once the start is over.
func (d *Driver) claim(ctx context.Context, slug string) (release func(), err error) {
	d.startMu.Lock()
	if d.starting[slug] {
		d.startMu.Unlock()
		return nil, fmt.Errorf("bottle %s is starting already; pick another name", slug)
	}
	if d.starting == nil {
		d.starting = map[string]bool{}
	}
	d.starting[slug] = true
	d.startMu.Unlock()
	release = func() {
		d.startMu.Lock()
		delete(d.starting, slug)
		d.startMu.Unlock()
	}
	if err := d.refuseInUse(ctx, slug); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// refuseInUse fails when anything of slug exists, in any state root:
// resource names are the daemon's, one namespace for every home. A
// failed start removes everything of its slug, so this check comes
// before the start creates anything.
func (d *Driver) refuseInUse(ctx context.Context, slug string) error {
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: slugFilter(slug)})
	if err != nil {
		return fmt.Errorf("listing the containers of %s: %w", slug, err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: slugFilter(slug)})
	if err != nil {
		return fmt.Errorf("listing the networks of %s: %w", slug, err)
	}
	var held []string
	for _, c := range cs.Items {
		held = append(held, "container "+strings.TrimPrefix(firstOr(c.Names), "/"))
	}
	for _, n := range ns.Items {
		held = append(held, "network "+n.Name)
	}
	if len(held) > 0 {
		return fmt.Errorf("bottle %s already exists (%s); stop it first ('bot-bottle stop %s'), or pick another name", slug, strings.Join(held, ", "), slug)
	}
	return nil
}
