//go:build linux

package inside

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bot-bottle/bot-bottle/internal/backend/kepthome"
)

// fresh are top-level folders the bottle never sees from the host.
var fresh = []string{"home", "root", "tmp", "run", "dev", "proc", "sys", "mnt", "media", "lost+found"}

// devices are the host device nodes bound into the bottle's /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// buildRoot assembles the new root in cfg.Root and pivots into it.
func buildRoot(cfg *Config) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := cfg.Root
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting the new root: %w", err)
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if slices.Contains(fresh, name) {
			continue
		}
		host, inside := "/"+name, filepath.Join(root, name)
		switch {
		case e.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(host)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, inside); err != nil {
				return err
			}
		case e.IsDir():
			if err := bindReadOnly(host, inside); err != nil {
				return err
			}
		}
	}
	for _, d := range []string{"home", "root", "tmp", "run", "proc", "sys", "dev", "mnt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	// A sysfs of the bottle's own network namespace, read-only; without
	// one, /sys stays empty.
	_ = unix.Mount("sysfs", filepath.Join(root, "sys"), "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	if err := buildDev(filepath.Join(root, "dev")); err != nil {
		return err
	}
	if err := provision(cfg); err != nil {
		return err
	}
	for _, p := range cfg.Hide {
		if isFresh(p) {
			// It holds nothing of the host's; hidden, the folder would
			// be the agent's no more. A host path bound below one (the
			// workspace) is still hidden.
			continue
		}
		if filepath.Clean(p) == "/" {
			return errors.New("cannot hide the root folder: keep the bot-bottle home out of /")
		}
		if err := hide(filepath.Join(root, p)); err != nil {
			return fmt.Errorf("hiding %s: %w", p, err)
		}
	}
	return pivot(root)
}

// bindReadOnly binds host onto a new folder inside, recursively and
// read-only throughout.
func bindReadOnly(host, inside string) error {
	if err := os.Mkdir(inside, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(host, inside, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s: %w", host, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(-1, inside, unix.AT_RECURSIVE, attr); err != nil {
		return fmt.Errorf("making %s read-only: %w", host, err)
	}
	return nil
}

// buildDev makes a minimal /dev: a few host devices, a private devpts,
// and shared memory.
func buildDev(dev string) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	for _, d := range devices {
		p := filepath.Join(dev, d)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding /dev/%s: %w", d, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mounting /dev/pts: %w", err)
	}
	if err := unix.Mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mounting /dev/shm: %w", err)
	}
	links := map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return nil
}

// provision mounts the run folder, home and workspace, and writes the CA
// and the files.
func provision(cfg *Config) error {
	root := cfg.Root
	for _, d := range []string{"run", "home", "root"} {
		if err := unix.Mount("tmpfs", filepath.Join(root, d), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return fmt.Errorf("mounting /%s: %w", d, err)
		}
	}
	if err := unix.Mount("tmpfs", filepath.Join(root, "tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mounting /tmp: %w", err)
	}
	run := filepath.Join(root, RunDir)
	if err := os.MkdirAll(run, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, CAFile), cfg.CA, 0o644); err != nil {
		return err
	}
	if cfg.Restore != "" {
		in := filepath.Join(root, RestoreFile)
		if err := os.WriteFile(in, nil, 0o600); err != nil {
			return err
		}
		if err := unix.Mount(cfg.Restore, in, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding the committed archive: %w", err)
		}
		if err := unix.Mount("", in, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("binding the committed archive: %w", err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, SidecarDir), 0o700); err != nil {
		return err
	}
	if err := unix.Mount(cfg.SidecarDir, filepath.Join(root, SidecarDir), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding the sidecar's folder: %w", err)
	}
	// The system bundle is the bottle CA: every TLS connection ends at the
	// sidecar.
	for _, bundle := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/pki/tls/certs/ca-bundle.crt"} {
		if _, err := os.Stat(filepath.Join(root, bundle)); err == nil {
			if err := unix.Mount(filepath.Join(root, CAFile), filepath.Join(root, bundle), "", unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("binding the CA over %s: %w", bundle, err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, cfg.Home), 0o755); err != nil {
		return err
	}
	if cfg.HomeHost != "" {
		// A kept home: what the agent left there last time.
		if err := unix.Mount(cfg.HomeHost, filepath.Join(root, cfg.Home), "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding the kept home: %w", err)
		}
		if err := unix.Mount("", filepath.Join(root, cfg.Home), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("binding the kept home: %w", err)
		}
	}
	if err := workspace(cfg); err != nil {
		return err
	}
	if err := ownAgentFiles(cfg); err != nil {
		return err
	}
	for _, f := range cfg.Files {
		p := filepath.Join(root, f.Path)
		if !strings.HasPrefix(p, filepath.Join(root, cfg.Home)+"/") && !strings.HasPrefix(p, filepath.Join(root, "tmp")+"/") {
			return fmt.Errorf("cannot provision %s: only the home and /tmp are writable in a native bottle", f.Path)
		}
		// Security: a kept home holds what the agent left, links among
		// it, and the host's tree is still reachable here: nothing at
		// the file's path or its folders' is followed.
		if err := kepthome.Clear(root, p); err != nil {
			return fmt.Errorf("provisioning %s: %w", f.Path, err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, os.FileMode(f.Mode)&os.ModePerm); err != nil {
			return err
		}
		if err := ownFile(cfg, f, p); err != nil {
			return err
		}
	}
	return nil
}

// workspace mounts or copies the working tree.
func workspace(cfg *Config) error {
	if cfg.WorkspaceMode == "none" || cfg.WorkspacePath == "" {
		return nil
	}
	inside := filepath.Join(cfg.Root, cfg.WorkspacePath)
	if err := os.MkdirAll(inside, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w (the workspace path must not be inside a read-only host folder)", cfg.WorkspacePath, err)
	}
	switch cfg.WorkspaceMode {
	case "mount":
		if cfg.WorkspaceTree {
			// A root operator's workspace: the idmapped tree the host
			// built. The protected binds below are cloned from it and
			// keep its idmapping.
			if err := attachTree(inside); err != nil {
				return err
			}
		} else if err := unix.Mount(cfg.WorkspaceHost, inside, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding the workspace: %w", err)
		}
		if err := protectWorkspace(inside, cfg.WorkspacePinned, cfg.WorkspaceReadOnly); err != nil {
			return err
		}
	case "copy":
		if err := unix.Mount("tmpfs", inside, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return err
		}
		if err := copyTree(inside, cfg.WorkspaceHost); err != nil {
			return fmt.Errorf("copying the workspace: %w", err)
		}
	}
	return nil
}

// isFresh reports whether p is one of the fresh top-level folders.
func isFresh(p string) bool {
	return slices.Contains(fresh, strings.TrimPrefix(filepath.Clean("/"+p), "/"))
}

// hide makes a path empty: an empty read-only tmpfs over a folder, the
// null device over a file.
func hide(p string) error {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if st.IsDir() {
		return unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "mode=0555")
	}
	return unix.Mount("/dev/null", p, "", unix.MS_BIND|unix.MS_RDONLY, "")
}

// pivot makes root the root and detaches the host's tree.
func pivot(root string) error {
	old := filepath.Join(root, ".oldroot")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host root: %w", err)
	}
	if err := os.Remove("/.oldroot"); err != nil {
		return err
	}
	// The root itself holds only mount points and links.
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making / read-only: %w", err)
	}
	return nil
}

// IsFresh reports whether the top-level folder name is one the bottle
// never sees from the host.
func IsFresh(name string) bool { return isFresh(name) }
