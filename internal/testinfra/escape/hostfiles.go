package escape

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// runHostFiles tries, from a bottle whose workspace is a host folder, to
// leave files in it that grant privilege on the host (set-id files,
// device nodes, file capabilities), and checks the agent's identity as
// the host sees it: its uid, the root-only files it can read, the root
// daemons' Unix sockets it can reach.
func (h *Harness) runHostFiles(t *testing.T, slug string) {
	ws := t.TempDir()
	// Writable by the agent whatever uid it has on the host.
	if err := os.Chmod(ws, 0o777); err != nil { //nolint:gosec // G302: see above
		t.Fatal(err)
	}
	mounted := slug + "-hf"
	spec := h.Spec(t, mounted)
	spec.Workspace = backend.Workspace{Mode: backend.WorkspaceMount, HostPath: ws, Path: "/workspace"}
	h.startSpec(t, spec)
	// Gone as soon as its cases are: a bottle left running through the
	// rest of the suite is one more that other packages' tests of
	// `cleanup` on the same daemon may meet.
	defer func() { _ = h.Backend.Stop(context.WithoutCancel(t.Context()), mounted) }()

	t.Run("files the workspace takes", func(t *testing.T) {
		// The checks below prove nothing unless the agent can write
		// ordinary files, FIFOs and modes there.
		if out, code := h.sh(t, mounted, "cp /bin/true /workspace/plain && chmod 0750 /workspace/plain && mkfifo /workspace/fifo && /workspace/plain"); code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		st, err := os.Lstat(filepath.Join(ws, "plain"))
		if err != nil || st.Mode().Perm() != 0o750 {
			t.Fatalf("the host sees the agent's file as %v (%v), want -rwxr-x---", st.Mode(), err)
		}
	})
	// Each attack must fail, unless the tool drops the bits itself when it
	// cannot keep the file's owner (lenient); the host's view decides.
	for _, c := range []struct {
		name, setup, attack, file string
		lenient                   bool
	}{
		{"setuid file in the workspace (chmod u+s)", "cp /bin/true /workspace/suid", "chmod u+s /workspace/suid", "suid", false},
		{"setgid file in the workspace (chmod g+s)", "cp /bin/true /workspace/sgid", "chmod g+s /workspace/sgid", "sgid", false},
		{"setuid file in the workspace (install -m 4755)", "true", "install -m 4755 /bin/true /workspace/inst", "inst", false},
		{"setuid file in the workspace (open with O_CREAT and mode 04755)", "true", "bb-probe create /workspace/raw 4755", "raw", false},
		{"setgid file in the workspace (fchmodat 02755)", "cp /bin/true /workspace/at", "bb-probe chmod /workspace/at 2755", "at", false},
		{"character device in the workspace (mknod c 1 3)", "true", "mknod /workspace/null c 1 3", "null", false},
		{"block device in the workspace (mknod b 7 0)", "true", "mknod /workspace/loop b 7 0", "loop", false},
		{"file capability on a workspace file (setxattr security.capability)", "cp /bin/true /workspace/cap", "bb-probe setcap /workspace/cap", "cap", false},
		{"hard link of a setuid binary into the workspace", "test -u /usr/bin/su", "ln /usr/bin/su /workspace/su-link", "su-link", false},
		{"copy of a setuid binary keeping its mode (cp -p)", "test -u /usr/bin/su", "cp -p /usr/bin/su /workspace/su-copy", "su-copy", true},
		{"setuid file from a tar archive (tar -xp)", "cp /bin/true ~/t && tar -C ~ -cf ~/t.tar --mode=4755 t", "tar -C /workspace -xpf ~/t.tar", "t", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if out, code := h.sh(t, mounted, c.setup); code != 0 {
				t.Fatalf("setting up (exit %d): %s", code, out)
			}
			if out, code := h.sh(t, mounted, c.attack); code == 0 && !c.lenient {
				t.Errorf("the bottle ran %q:\n%s", c.attack, out)
			}
			if _, err := os.Lstat(filepath.Join(ws, c.file)); err != nil && c.lenient {
				t.Errorf("%q left no file; the check proves nothing: %v", c.attack, err)
			}
			if err := privileged(filepath.Join(ws, c.file)); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("nothing in the workspace grants privilege on the host", func(t *testing.T) {
		err := filepath.WalkDir(ws, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := privileged(p); err != nil {
				t.Error(err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the host sees the agent as an unprivileged user", func(t *testing.T) {
		marker := fmt.Sprintf("bb-uid-marker-%d", time.Now().UnixNano()%1_000_000)
		if out, code := h.sh(t, mounted, "(exec -a "+marker+" sleep 600) >/dev/null 2>&1 & echo started"); code != 0 {
			t.Fatalf("starting the marker: %s", out)
		}
		status := hostStatus(t, marker)
		for _, key := range []string{"Uid:", "Gid:"} {
			for line := range strings.SplitSeq(status, "\n") {
				if f := strings.Fields(line); len(f) == 5 && f[0] == key && strings.Contains(" "+strings.Join(f[1:], " ")+" ", " 0 ") {
					t.Errorf("the host sees the agent's process with %s", line)
				}
			}
		}
	})
	t.Run("the root-only shadow backups", func(t *testing.T) {
		for _, f := range []string{"/etc/shadow-", "/etc/gshadow-"} {
			if out, code := h.sh(t, mounted, "test -e "+f+" && ! head -c1 "+f+" >/dev/null 2>&1"); code != 0 {
				t.Errorf("%s is readable, or absent so the check proves nothing (exit %d): %s", f, code, out)
			}
		}
	})
	if !h.HostRoot {
		return
	}
	planted := plantRootFiles(t)
	t.Run("a root-only file under /var/lib", func(t *testing.T) {
		if out, code := h.sh(t, mounted, "test -e "+planted.file+" && ! cat "+planted.file); code != 0 || strings.Contains(out, plantedSecret) {
			t.Errorf("exit %d: %s", code, out)
		}
	})
	for _, s := range planted.sockets {
		t.Run(fmt.Sprintf("a root daemon's %#o Unix socket under /var/lib", s.mode), func(t *testing.T) {
			if out, code := h.sh(t, mounted, "test -S "+s.path+" && ! bb-probe unix "+s.path); code != 0 {
				t.Errorf("exit %d: %s", code, out)
			}
			if n := s.accepted.Load(); n != 0 {
				t.Errorf("the daemon accepted %d connections from the bottle", n)
			}
		})
	}
	t.Run("a host daemon's Unix socket in the workspace", func(t *testing.T) {
		s := listenUnix(t, filepath.Join(ws, "daemon.sock"), 0o666)
		if out, code := h.sh(t, mounted, "test -S /workspace/daemon.sock && ! bb-probe unix /workspace/daemon.sock"); code != 0 {
			t.Errorf("exit %d: %s", code, out)
		}
		if n := s.accepted.Load(); n != 0 {
			t.Errorf("the daemon accepted %d connections from the bottle", n)
		}
	})
}

// startSpec starts a bottle of spec and removes it when t ends.
func (h *Harness) startSpec(t *testing.T, spec *backend.Spec) {
	t.Helper()
	var progress bytes.Buffer
	t.Cleanup(func() { _ = h.Backend.Stop(t.Context(), spec.Slug) })
	if err := h.Backend.Start(t.Context(), spec, &progress); err != nil {
		t.Fatalf("starting bottle %s: %v\n%s", spec.Slug, err, progress.String())
	}
}

// privileged says what in the file at p would grant privilege on the
// host: a set-id bit, a device node or a file capability.
func privileged(p string) error {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	m := st.Mode()
	if m&(os.ModeSetuid|os.ModeSetgid) != 0 && !m.IsDir() || m&os.ModeDevice != 0 {
		return fmt.Errorf("the host sees %s as %v", p, m)
	}
	if _, err := unix.Lgetxattr(p, "security.capability", make([]byte, 64)); err == nil {
		return fmt.Errorf("the host sees a file capability on %s", p)
	}
	return nil
}

// hostStatus waits for the process whose argv[0] is marker to appear in
// the host's /proc and returns its status.
func hostStatus(t *testing.T, marker string) string {
	t.Helper()
	for range 100 {
		cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, c := range cmdlines {
			data, err := os.ReadFile(c)
			if err != nil || !bytes.HasPrefix(data, []byte(marker+"\x00")) {
				continue
			}
			status, err := os.ReadFile(filepath.Join(filepath.Dir(c), "status"))
			if err == nil {
				return string(status)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the host sees no process %s; the check proves nothing", marker)
	return ""
}

// plantedSecret is the content of the root-only file the test plants.
const plantedSecret = "bb-escape-root-only-4f2e" //nolint:gosec // G101: a marker, not a credential

type plantedSocket struct {
	path     string
	mode     os.FileMode
	accepted *atomic.Int64
}

type plantedFiles struct {
	file    string
	sockets []plantedSocket
}

// plantRootFiles makes what a root daemon keeps under /var/lib: a 0600
// file and its Unix sockets, in a folder anyone may enter. They are
// removed when t ends.
func plantRootFiles(t *testing.T) plantedFiles {
	t.Helper()
	dir, err := os.MkdirTemp("/var/lib", "bb-escape-") //nolint:usetesting // it must be where daemons keep their state
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // G302: a daemon's state folder anyone may enter
		t.Fatal(err)
	}
	p := plantedFiles{file: filepath.Join(dir, "secret")}
	if err := os.WriteFile(p.file, []byte(plantedSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o666, 0o600} {
		p.sockets = append(p.sockets, listenUnix(t, filepath.Join(dir, fmt.Sprintf("d%o.sock", mode)), mode))
	}
	return p
}

// listenUnix serves a Unix socket at path with mode and counts the
// connections it accepts.
func listenUnix(t *testing.T, path string, mode os.FileMode) plantedSocket {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	s := plantedSocket{path: path, mode: mode, accepted: new(atomic.Int64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			_, _ = c.Write([]byte("root daemon\n"))
			_ = c.Close()
		}
	}()
	return s
}
