package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// A home keeps a small pool of networks created ahead, so that a start
// need not wait for two network creations. A pool network is labelled
// with the home's state folder, which owns it; it is handed to exactly
// one bottle, which claims it with a file in the home's pool folder
// (created exclusively, so two starts never get the same one), and is
// deleted with that bottle: no network ever serves two bottles. Pool
// networks carry no slug label; the claim file names their bottle for
// Stop and List. A start refills the pool in the background once its
// bottle runs.
const (
	// labelPool is the state folder of the home owning a pool network.
	labelPool = "io.bot-bottle.pool"
	// labelPoolKind is kindBottle or kindEgress.
	labelPoolKind = "io.bot-bottle.pool-kind"
	// labelPoolHost is the owner's host name: only that host can tell
	// whether the owning folder is gone.
	labelPoolHost = "io.bot-bottle.pool-host"

	kindBottle = "bottle" // internal, the agent's only network
	kindEgress = "egress" // the sidecar's way out

	// poolSize is how many idle networks of each kind a home keeps.
	poolSize = 1
	// stateDirName is the home's state folder, where launch puts the
	// bottles' (HOME/state/SLUG): only such bottles have a pool.
	stateDirName = "state"
	// poolDirName is the pool's folder beside it, HOME/.docker-pool:
	// the state folder holds the bottles' folders alone.
	poolDirName = ".docker-pool"
)

// pool is the pool of one home, identified by its state folder.
type pool struct {
	d     *Driver
	owner string
}

// pool returns the pool of the home whose state folder holds spec's; a
// spec whose state folder is not in a home's has none.
func (d *Driver) pool(spec *backend.Spec) *pool {
	owner := filepath.Dir(spec.StateDir)
	if !filepath.IsAbs(spec.StateDir) || filepath.Base(owner) != stateDirName {
		return &pool{d: d}
	}
	return &pool{d: d, owner: owner}
}

func (p *pool) dir() string { return poolDir(p.owner) }

// poolDir is the pool folder of the home whose state folder is owner.
func poolDir(owner string) string { return filepath.Join(filepath.Dir(owner), poolDirName) }

// take claims one idle network of each kind for slug; the kinds it finds
// none of are missing from the result. It never fails: a start without a
// pool creates its networks.
func (p *pool) take(ctx context.Context, slug string, kinds []string) map[string]network.Network {
	got := map[string]network.Network{}
	cli, err := p.d.client(ctx)
	if err != nil || p.owner == "" {
		return got
	}
	found, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", labelPool+"="+p.owner)})
	if err != nil {
		p.d.log.Debug("listing the network pool", "err", err)
		return got
	}
	items := found.Items
	sort.Slice(items, func(i, j int) bool { return items[i].Created.Before(items[j].Created) })
	for _, kind := range kinds {
		for _, n := range items {
			if n.Labels[labelPoolKind] != kind || !p.claim(n.ID, slug) {
				continue
			}
			// A claim file lost with its bottle still running: the
			// network has endpoints, and stays that bottle's alone.
			insp, err := cli.NetworkInspect(ctx, n.ID, client.NetworkInspectOptions{})
			if err != nil || len(insp.Network.Containers) > 0 {
				p.release(n.ID)
				continue
			}
			got[kind] = insp.Network.Network
			break
		}
	}
	return got
}

// claim records that network id belongs to slug, unless it already
// belongs to a bottle.
func (p *pool) claim(id, slug string) bool {
	f, err := os.OpenFile(filepath.Join(p.dir(), id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false
	}
	_, werr := fmt.Fprintf(f, "%s %d\n", slug, os.Getpid())
	if err := errors.Join(werr, f.Close()); err != nil {
		p.release(id)
		return false
	}
	return true
}

func (p *pool) release(id string) { _ = os.Remove(filepath.Join(p.dir(), id)) }

// claimOf returns the bottle a pool network was handed to and the process
// that took it; ok is false for an idle network.
func claimOf(n network.Summary) (slug string, pid int, ok bool) {
	owner := n.Labels[labelPool]
	if owner == "" {
		return "", 0, false
	}
	data, err := os.ReadFile(filepath.Join(poolDir(owner), n.ID))
	if err != nil {
		return "", 0, false
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return "", 0, false
	}
	pid, _ = strconv.Atoi(f[1])
	return f[0], pid, true
}

// netLabels are the labels of a network as its bottle's: a claimed pool
// network carries the claim's slug, its process as the owner (left alone,
// it is an orphan of that process) and the bottle's state folder.
func netLabels(n network.Summary) map[string]string {
	slug, pid, ok := claimOf(n)
	if !ok {
		return n.Labels
	}
	return map[string]string{
		backend.LabelSlug:     slug,
		backend.LabelOwner:    strconv.Itoa(pid),
		backend.LabelStateDir: filepath.Join(n.Labels[labelPool], slug),
	}
}

// releaseClaim forgets the claim on a pool network that is gone.
func releaseClaim(n network.Summary) {
	if owner := n.Labels[labelPool]; owner != "" {
		_ = os.Remove(filepath.Join(poolDir(owner), n.ID))
	}
}

// refill tops the pool up in the background; Stop and Close wait for it.
// Only one process refills a pool at a time. It also removes the pools of
// homes of this host whose state folder is gone.
func (p *pool) refill(kinds []string) {
	if p.owner == "" {
		return
	}
	p.d.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.fill(ctx, kinds); err != nil {
			p.d.log.Debug("refilling the network pool", "owner", p.owner, "err", err)
		}
	})
}

func (p *pool) fill(ctx context.Context, kinds []string) error {
	cli, err := p.d.client(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.dir(), 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(p.dir(), "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // another process refills it
	}
	found, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", labelPool)})
	if err != nil {
		return fmt.Errorf("listing the network pool: %w", err)
	}
	host, _ := os.Hostname()
	idle := map[string]int{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, n := range found.Items {
		owner := n.Labels[labelPool]
		if owner == p.owner {
			if _, _, claimed := claimOf(n); !claimed {
				idle[n.Labels[labelPoolKind]]++
			}
			continue
		}
		if _, err := os.Stat(owner); n.Labels[labelPoolHost] == host && errors.Is(err, fs.ErrNotExist) {
			wg.Go(func() {
				if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !isNotFound(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("removing network %s of a removed home: %w", n.Name, err))
					mu.Unlock()
				}
			})
		}
	}
	for _, kind := range kinds {
		for range poolSize - idle[kind] {
			wg.Go(func() {
				l := map[string]string{
					backend.LabelManaged: "1",
					backend.LabelRole:    backend.RoleNetwork,
					labelPool:            p.owner,
					labelPoolKind:        kind,
					labelPoolHost:        host,
				}
				if _, err := p.d.createNetwork(ctx, "bot-bottle-pool-"+randHex(6), kind == kindBottle, l); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
