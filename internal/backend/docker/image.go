package docker

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// sidecarDockerfile is the whole sidecar image: our binary and its state
// folder (sidecarVar, from sidecarRoot), nothing else. Upstream TLS roots
// are compiled into the binary.
const sidecarDockerfile = `FROM scratch
COPY bot-bottle /bot-bottle
ADD root.tar /
USER 65532:65532
ENTRYPOINT ["/bot-bottle", "sidecar"]
`

// sidecarRoot is the sidecar's state folder as a tar stream, which the
// classic builder's ADD unpacks with its owner and mode: the folder
// comes with the image instead of a copy into each sidecar.
func sidecarRoot() ([]byte, error) {
	tb, err := tarball([]entry{
		{Name: "/var", Mode: 0o755, Dir: true},
		{Name: "/var/lib", Mode: 0o755, Dir: true},
		{Name: sidecarVar, Mode: 0o700, UID: sidecarUID, GID: sidecarUID, Dir: true},
	})
	if err != nil {
		return nil, err
	}
	return tb.Bytes(), nil
}

// SidecarRepo is the repository sidecar images are tagged in.
const SidecarRepo = "bot-bottle-sidecar"

// sidecarImage builds, unless cached, the sidecar image from the
// bot-bottle binary and returns its tag: the digest of the binary and the
// Dockerfile. The binary is streamed through the digest and read whole
// only for a build, where it is checked against the tag.
func (d *Driver) sidecarImage(ctx context.Context, progress io.Writer) (string, error) {
	bin, err := d.sidecarBinary()
	if err != nil {
		return "", err
	}
	if err := checkStatic(bin); err != nil {
		return "", err
	}
	f, err := os.Open(bin)
	if err != nil {
		return "", fmt.Errorf("reading the sidecar binary: %w", err)
	}
	h := sidecarDigest()
	_, err = io.Copy(h, f)
	_ = f.Close()
	if err != nil {
		return "", fmt.Errorf("reading the sidecar binary: %w", err)
	}
	tag := SidecarRepo + ":" + hex.EncodeToString(h.Sum(nil))[:16]
	if ok, err := d.imageExists(ctx, tag); ok || err != nil {
		return tag, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("reading the sidecar binary: %w", err)
	}
	h = sidecarDigest()
	h.Write(data)
	if SidecarRepo+":"+hex.EncodeToString(h.Sum(nil))[:16] != tag {
		return "", fmt.Errorf("the sidecar binary %s changed while it was read; start again", bin)
	}
	root, err := sidecarRoot()
	if err != nil {
		return "", err
	}
	files := map[string][]byte{"bot-bottle": data, "root.tar": root}
	return tag, d.build(ctx, tag, sidecarDockerfile, files, nil, progress)
}

// sidecarDigest is the digest of a sidecar image, before the binary.
func sidecarDigest() hash.Hash {
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "%d:%s", len(sidecarDockerfile), sidecarDockerfile)
	return h
}

// checkStatic refuses a dynamically linked binary: the sidecar image holds
// nothing but the binary.
func checkStatic(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("the sidecar binary %s is not a Linux executable (%w); build it with 'make build'", bin, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("the sidecar binary %s is dynamically linked; build a static one with 'make build' (CGO_ENABLED=0)", bin)
		}
	}
	return nil
}

// ImageTag is the tag an agent image recipe is cached under: its name and
// the digest of everything that goes into the build, with bases, the ids
// of the images its *IMAGE build arguments name (baseIDs).
func ImageTag(img backend.Image, bases map[string]string) string {
	h := sha256.New()
	write := func(s string) { _, _ = fmt.Fprintf(h, "%d:%s", len(s), s) }
	write(img.Dockerfile)
	for _, k := range sortedKeys(bases) {
		write("base " + k)
		write(bases[k])
	}
	for _, k := range sortedKeys(img.BuildArgs) {
		write(k)
		write(img.BuildArgs[k])
	}
	for _, k := range sortedKeys(img.Context) {
		write(k)
		write(string(img.Context[k]))
	}
	return img.Name + ":" + hex.EncodeToString(h.Sum(nil))[:16]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// agentImage builds, unless cached, the agent image and returns its tag.
// A base image pulled or rebuilt since makes a new tag, so a new build.
func (d *Driver) agentImage(ctx context.Context, img backend.Image, progress io.Writer) (string, error) {
	if img.Committed != "" {
		return d.committedImage(ctx, img.Committed)
	}
	bases, err := d.baseIDs(ctx, img)
	if err != nil {
		return "", err
	}
	tag := ImageTag(img, bases)
	if ok, err := d.imageExists(ctx, tag); ok || err != nil {
		return tag, err
	}
	fmt.Fprintf(progress, "the agent image is not built yet: the first build of a template takes a few minutes (npm installs the agent CLI); later starts reuse it\n")
	return tag, d.build(ctx, tag, img.Dockerfile, img.Context, img.BuildArgs, progress)
}

// baseIDs maps each build argument of img whose name ends in IMAGE and
// whose value names an image the daemon has to that image's id. A base
// the daemon lacks is left out: the build pulls it by name.
func (d *Driver) baseIDs(ctx context.Context, img backend.Image) (map[string]string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for k, ref := range img.BuildArgs {
		if !strings.HasSuffix(k, "IMAGE") || ref == "" {
			continue
		}
		insp, err := cli.ImageInspect(ctx, ref)
		switch {
		case err == nil:
			ids[k] = insp.ID
		case isNotFound(err) || cerrdefs.IsInvalidArgument(err):
		default:
			return nil, fmt.Errorf("inspecting the base image %s: %w", ref, err)
		}
	}
	return ids, nil
}

// ProxyBuildArgs are Docker's predefined build arguments for proxies:
// a build sees them without an ARG, and they stay out of the image's
// history.
var ProxyBuildArgs = []string{"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
	"http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"}

// build builds an image with the classic builder unless tag exists.
func (d *Driver) build(ctx context.Context, tag, dockerfile string, files map[string][]byte, args map[string]string, progress io.Writer) error {
	cli, err := d.client(ctx)
	if err != nil {
		return err
	}
	if ok, err := d.imageExists(ctx, tag); ok || err != nil {
		return err
	}
	entries := []entry{{Name: "Dockerfile", Mode: 0o644, Data: []byte(dockerfile)}}
	for _, name := range sortedKeys(files) {
		entries = append(entries, entry{Name: name, Mode: 0o755, Data: files[name]})
	}
	ctxTar, err := tarball(entries)
	if err != nil {
		return err
	}
	buildArgs := map[string]*string{}
	for k, v := range d.cfg.BuildProxy {
		if slices.Contains(ProxyBuildArgs, k) {
			buildArgs[k] = &v
		}
	}
	for k, v := range args {
		buildArgs[k] = &v
	}
	fmt.Fprintf(progress, "building image %s\n", tag)
	res, err := cli.ImageBuild(ctx, ctxTar, client.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		BuildArgs:   buildArgs,
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{backend.LabelManaged: "1", backend.LabelRole: backend.RoleImage},
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("building image %s: %w", tag, err)
	}
	defer func() { _ = res.Body.Close() }()
	if err := buildProgress(res.Body, progress); err != nil {
		return fmt.Errorf("building image %s: %w", tag, err)
	}
	d.images.Store(tag, true)
	return nil
}

// imageExists reports whether the daemon has tag. Tags name their content,
// so the answer is kept for the process: an image removed since makes a
// container creation fail, never run another image.
func (d *Driver) imageExists(ctx context.Context, tag string) (bool, error) {
	if _, ok := d.images.Load(tag); ok {
		return true, nil
	}
	cli, err := d.client(ctx)
	if err != nil {
		return false, err
	}
	if _, err := cli.ImageInspect(ctx, tag); err == nil {
		d.images.Store(tag, true)
		return true, nil
	} else if !isNotFound(err) {
		return false, fmt.Errorf("inspecting image %s: %w", tag, err)
	}
	return false, nil
}

// buildProgress copies the classic builder's JSON stream to w as text and
// returns the build's error, if any.
func buildProgress(r io.Reader, w io.Writer) error {
	var msg struct {
		Stream string `json:"stream"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		msg.Stream, msg.Status, msg.Error = "", "", ""
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			continue
		}
		switch {
		case msg.Error != "":
			return errors.New(strings.TrimSpace(msg.Error))
		case msg.Stream != "":
			_, _ = io.WriteString(w, msg.Stream)
		case msg.Status != "":
			fmt.Fprintln(w, msg.Status)
		}
	}
	return sc.Err()
}
