package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// RoleSaved labels an image Commit made.
const RoleSaved = "saved"

// Commit implements backend.Committer: the agent container becomes an
// image (docker commit, paused meanwhile), whose id it returns. The
// image keeps the container's labels, its role relabelled; nothing of
// the sidecar, so no secret, is in it.
func (d *Driver) Commit(ctx context.Context, slug string) (string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	res, err := cli.ContainerCommit(ctx, agentName(slug), client.ContainerCommitOptions{
		Comment: "bot-bottle commit " + slug,
		Changes: []string{"LABEL " + backend.LabelRole + "=" + RoleSaved},
	})
	if errdefs.IsNotFound(err) {
		return "", fmt.Errorf("%w: bottle %s has no agent container to commit", backend.ErrNotFound, slug)
	}
	if err != nil {
		return "", fmt.Errorf("committing bottle %s: %w", slug, err)
	}
	return res.ID, nil
}

// Forget implements backend.Committer.
func (d *Driver) Forget(ctx context.Context, ref string) error {
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	_, err = cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing the saved image %s: %w", ref, err)
	}
	return nil
}

// committedImage checks that a saved runtime still exists and returns it.
func (d *Driver) committedImage(ctx context.Context, ref string) (string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		if errdefs.IsNotFound(err) {
			return "", errors.New("the image this bottle was committed as is gone; start the agent anew with bot-bottle start")
		}
		return "", fmt.Errorf("inspecting the committed image: %w", err)
	}
	return ref, nil
}
