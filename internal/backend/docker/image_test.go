package docker

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

// TestAgentImageFollowsItsBase: the agent image's tag holds its base
// image's id, so a base rebuilt under the same name makes a new build
// instead of a stale cache hit.
func TestAgentImageFollowsItsBase(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	cli, err := d.client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := time.Now().UnixNano() % 1_000_000
	base := fmt.Sprintf("bot-bottle-test-base-%d:latest", n)
	buildBase := func(v string) {
		t.Helper()
		d.images.Delete(base)
		if _, err := cli.ImageRemove(ctx, base, client.ImageRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			t.Fatal(err)
		}
		df := fmt.Sprintf("FROM %s\nLABEL bot-bottle-test-version=%s\n", backendtest.BaseImage(t), v)
		if err := d.build(ctx, base, df, nil, nil, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
	}
	img := backend.Image{
		Name:       fmt.Sprintf("bot-bottle-test-agent-%d", n),
		Dockerfile: "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n",
		BuildArgs:  map[string]string{"BASE_IMAGE": base, "VERSION": "1.0"},
	}
	var tags []string
	t.Cleanup(func() {
		for _, tag := range append(tags, base) {
			_, _ = cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true})
		}
	})
	for _, v := range []string{"1", "2"} {
		buildBase(v)
		var progress bytes.Buffer
		tag, err := d.agentImage(ctx, img, &progress)
		if err != nil {
			t.Fatalf("agent image on base %s: %v\n%s", v, err, progress.String())
		}
		if !strings.Contains(progress.String(), "building image "+tag) {
			t.Errorf("base %s: no build of %s:\n%s", v, tag, progress.String())
		}
		tags = append(tags, tag)
		// Cached the second time.
		progress.Reset()
		if again, err := d.agentImage(ctx, img, &progress); err != nil || again != tag || progress.Len() != 0 {
			t.Errorf("agent image again on base %s = %s, %v, progress %q; want %s from the cache", v, again, err, progress.String(), tag)
		}
	}
	if tags[0] == tags[1] {
		t.Fatalf("the agent image kept tag %s over a rebuilt base", tags[0])
	}
}
