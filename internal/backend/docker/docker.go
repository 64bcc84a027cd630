// Package docker runs bottles on a Docker Engine through its API.
//
// Topology of one bottle (SPEC 5, docker):
//
//	agent ── bottle network (--internal, no gateway address) ── sidecar ── egress network ── upstreams
//
// The agent container sits on the per-bottle internal network only; its DNS
// server and its proxy are the sidecar. The sidecar is the bot-bottle binary
// in an image built locally from that binary alone, on the internal network
// and on an egress network (one per bottle, or an existing one named by
// BOT_BOTTLE_DOCKER_EGRESS_NETWORK). A bottle's networks come from a
// small pool of its home's, created ahead; each serves one bottle and goes
// with it (pool.go).
//
// Docker 20.10 (API 1.41) is the oldest daemon supported: containers are
// created on one network and connected to the second before start, network
// names are checked for duplicates (the client no longer asks the daemon
// to), and the classic builder is used.
//
// It never parses the docker CLI's output, never publishes a port of a
// bottle, and never puts a secret in a container's environment, labels or
// files: the sidecar's launch document goes over its attached stdin.
package docker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// Name is the backend's name.
const Name = "docker"

// Config configures a Driver.
type Config struct {
	// SidecarBinary is a static bot-bottle binary for the sidecar image;
	// empty means the running executable.
	SidecarBinary string
	// EgressNetwork, when set, is an existing network the sidecar joins
	// instead of a per-bottle one.
	EgressNetwork string
	// NoGVisor turns off the use of runsc even where it is registered.
	NoGVisor bool
	// StateRoot is $BOT_BOTTLE_HOME/state. List and Stop see only the
	// bottles whose state folder (backend.LabelStateDir) is below it, so
	// that cleanup never touches another home's; empty means every
	// bottle of the daemon.
	StateRoot string
	// BuildProxy are the proxy variables (HTTP_PROXY, HTTPS_PROXY,
	// NO_PROXY, ...) image builds run with, as the docker CLI passes
	// them: Docker's predefined build arguments, kept out of the image's
	// history and of its tag.
	BuildProxy map[string]string
	Log        *slog.Logger
}

// Driver is the Docker backend.
type Driver struct {
	cfg Config
	log *slog.Logger

	once   sync.Once
	cli    *client.Client
	cliErr error

	// early holds the terminal streams of bottles attached before their
	// start, so that Attach misses none of the first output.
	mu    sync.Mutex
	early map[string]client.HijackedResponse

	// images are the tags known to exist (image.go).
	images sync.Map

	// bg runs the pool's refills.
	bg sync.WaitGroup

	// runtimeName is the daemon's answer to runtime, once it gave one.
	runtimeName *string

	// startMu guards starting: the slugs this driver is starting.
	startMu  sync.Mutex
	starting map[string]bool
}

var _ backend.Backend = (*Driver)(nil)

// New returns a Driver; it connects lazily, from the DOCKER_* environment.
func New(cfg Config) *Driver {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Driver{cfg: cfg, log: log}
}

// Name implements backend.Backend.
func (d *Driver) Name() string { return Name }

func (d *Driver) client(ctx context.Context) (*client.Client, error) {
	d.once.Do(func() {
		d.cli, d.cliErr = client.New(append([]client.Opt{client.FromEnv}, apiLog(d.log)...)...)
		if d.cliErr != nil {
			return
		}
		if _, err := d.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			d.cliErr = err
		}
	})
	if d.cliErr != nil {
		return nil, fmt.Errorf("docker is not reachable (%w); start dockerd or set DOCKER_HOST", d.cliErr)
	}
	return d.cli, nil
}

// Close waits for the pool's refills and releases the client's
// connections.
func (d *Driver) Close() error {
	d.bg.Wait()
	if d.cli != nil {
		return d.cli.Close()
	}
	return nil
}

// Probe implements backend.Backend.
func (d *Driver) Probe(ctx context.Context) (backend.Features, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return backend.Features{}, err
	}
	v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return backend.Features{}, fmt.Errorf("asking docker for its version: %w", err)
	}
	f := backend.Features{Runtime: fmt.Sprintf("docker %s (API %s)", v.Version, cli.ClientVersion())}
	rt, err := d.runtime(ctx)
	if err != nil {
		return f, err
	}
	if rt == "runsc" {
		f.Isolation = "gVisor (runsc)"
	} else {
		f.Isolation = "runc (gVisor's runsc is not registered with dockerd)"
		f.Notes = append(f.Notes, "no gVisor: the agent shares the host kernel; register runsc with dockerd for a stronger boundary")
	}
	return f, nil
}

// runtime is "runsc" when dockerd has gVisor registered, else "". The
// daemon is asked once: Probe and Start both need it.
func (d *Driver) runtime(ctx context.Context) (string, error) {
	if d.cfg.NoGVisor {
		return "", nil
	}
	d.mu.Lock()
	known := d.runtimeName
	d.mu.Unlock()
	if known != nil {
		return *known, nil
	}
	rt, err := d.askRuntime(ctx)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	d.runtimeName = &rt
	d.mu.Unlock()
	return rt, nil
}

func (d *Driver) askRuntime(ctx context.Context) (string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("asking docker for its runtimes: %w", err)
	}
	if _, ok := info.Info.Runtimes["runsc"]; ok {
		return "runsc", nil
	}
	return "", nil
}

func (d *Driver) sidecarBinary() (string, error) {
	if d.cfg.SidecarBinary != "" {
		return d.cfg.SidecarBinary, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the bot-bottle binary for the sidecar image: %w", err)
	}
	return exe, nil
}

// isNotFound reports a daemon "no such ..." answer.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
