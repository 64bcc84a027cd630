//go:build linux

package native

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape"
)

// The fake internet of the native suite: a network namespace holding
// upstreamd, joined to the host by a veth pair in 198.18.0.0/15 (reserved
// for benchmarking, never routed; TEST-NET-1 is taken by this kind of
// machine's own interface). Only the sidecar, a host process, can reach
// it; the bottle's own namespace has loopback alone.
const (
	hostSide     = "198.19.233.1"
	upstreamSide = "198.19.233.2"
)

func TestEscapeSuite(t *testing.T) {
	if os.Getuid() != 0 {
		backendtest.Missing(t, "the native escape suite builds its fake internet in a network namespace, which needs root")
	}
	up := fakeInternet(t)
	host := backendtest.ForbiddenService(t, "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(host)
	d := New(Config{Binary: backendtest.StaticBinary(t)})
	h := &escape.Harness{
		Backend: d,
		Internet: escape.Internet{
			Upstream:     upstreamSide,
			Control:      "http://" + net.JoinHostPort(upstreamSide, "8081"),
			CAFile:       up,
			HostServices: []string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort(hostSide, port)},
		},
		User:      backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"},
		Probe:     backendtest.BuildStatic(t, "./internal/testinfra/escape/probe"),
		ProbePath: "/home/agent/bin/bb-probe",
		HostRoot:  true,
		// The host end of the veth: the sidecar, a host process, reaches
		// it; the bottle has loopback alone.
		GitHost: hostSide,
		Addrs: func(*testing.T, string) escape.Addrs {
			return escape.Addrs{Sidecar: "127.0.0.1"}
		},
		KillSidecar: func(t *testing.T, slug string) {
			b, err := d.get(slug)
			if err != nil {
				t.Fatal(err)
			}
			_ = b.sidecar.Process.Signal(syscall.SIGKILL)
		},
	}
	escape.Run(t, h)
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// fakeInternet starts upstreamd in its own network namespace and returns
// the file of the CA its certificate chains to.
func fakeInternet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, _ := exec.Command("ip", "-4", "addr").Output(); strings.Contains(string(out), "198.19.233.") {
		t.Fatalf("198.19.233.0/24 is already in use on this machine:\n%s", out)
	}
	ns := fmt.Sprintf("bbesc%d", time.Now().UnixNano()%100000)
	veth := "veth" + ns[5:]
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", veth+"p")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", veth).Run() })
	run(t, "ip", "link", "set", veth+"p", "netns", ns)
	run(t, "ip", "addr", "add", hostSide+"/24", "dev", veth)
	run(t, "ip", "link", "set", veth, "up")
	run(t, "ip", "-n", ns, "addr", "add", upstreamSide+"/24", "dev", veth+"p")
	run(t, "ip", "-n", ns, "link", "set", veth+"p", "up")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")

	caFile, cert, key := backendtest.UpstreamCert(t, dir, escape.AllowedHost, escape.UnlistedHost, escape.LiveHost)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := backendtest.BuildStatic(t, "./internal/testinfra/escape/upstreamd")
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "--cert", certFile, "--key", keyFile)
	logf, err := os.Create(filepath.Join(dir, "upstreamd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(upstreamSide, "8081"), time.Second)
		if err == nil {
			_ = c.Close()
			return caFile
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(logf.Name())
			t.Fatalf("upstreamd did not come up: %v\n%s", err, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNativeEscapes are the attempts specific to a bottle that shares the
// host's kernel and filesystem: writing outside the workspace, reading
// the operator's secrets, seeing or signalling host processes, and
// escaping through a new user namespace.
func TestNativeEscapes(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	// In the operator's home, where real secrets live; t.TempDir is in /tmp.
	secretDir, err := os.MkdirTemp(home, ".bb-escape-secret-") //nolint:usetesting // see above
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(secretDir) })
	secretFile := filepath.Join(secretDir, "id_ed25519")
	if err := os.WriteFile(secretFile, []byte("operator-secret-material\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	d := New(Config{Binary: backendtest.StaticBinary(t)})
	h := &escape.Harness{Backend: d, User: backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"}, Probe: backendtest.BuildStatic(t, "./internal/testinfra/escape/probe"), ProbePath: "/home/agent/bin/bb-probe"}
	spec := h.Spec(t, fmt.Sprintf("native-esc-%d", time.Now().UnixNano()%1_000_000))
	// A state folder where the host root is visible (not under /tmp or a
	// home): the bottle must still not see it, nor any other bottle's.
	visible, err := os.MkdirTemp("/var/tmp", "bb-escape-home-") //nolint:usetesting // it must be outside /tmp
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(visible) })
	spec.StateDir = filepath.Join(visible, "state", spec.Slug)
	// A credential file the bottle's env names (launch fills Hide so).
	named, err := os.CreateTemp("/var/tmp", "bb-escape-named-")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = named.WriteString("named-credential\n")
	_ = named.Close()
	t.Cleanup(func() { _ = os.Remove(named.Name()) })
	spec.Hide = []string{named.Name()}
	spec.Workspace = backend.Workspace{Mode: "mount", HostPath: ws, Path: "/workspace"}
	t.Cleanup(func() { _ = d.Stop(context.Background(), spec.Slug) })
	if err := d.Start(context.Background(), spec, io.Discard); err != nil {
		t.Fatal(err)
	}
	sh := func(script string) (string, int) {
		var out bytes.Buffer
		code, err := d.Exec(context.Background(), spec.Slug, backend.Exec{Cmd: []string{"bash", "-c", script}, Stdio: backend.Stdio{Stdout: &out, Stderr: &out}})
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	cases := []struct{ name, script string }{
		{"the workspace is writable", "echo ok > /workspace/written && cat /workspace/written"},
		{"the home is writable", "echo ok > ~/written && cat ~/written"},
		{"the host root is not", "! touch /etc/bb-escape && ! touch /usr/bb-escape && ! touch /bb-escape && ! mkdir /opt/bb-escape"},
		{"nor the bottle's own folders outside the writable ones (Landlock)", "! touch /run/bb-escape && ! touch /root/bb-escape && ! mkdir /home/bb-escape"},
		{"the operator's secrets are absent", "! test -e " + secretFile + " && ! test -e " + secretDir + " && ! ls -A /root | grep -q ."},
		{"the bot-bottle home is hidden", "test -d /var/tmp && ! ls -A " + visible + " | grep -q ."},
		{"files the env names are hidden", "test -e " + named.Name() + " && ! grep -q named-credential " + named.Name()},
		{"other users' homes are absent", "test \"$(ls -A /home)\" = agent"},
		{"the host's processes are invisible", "! grep -l -- '-test\\.' /proc/[0-9]*/cmdline 2>/dev/null && test $(ls -d /proc/[0-9]* | wc -l) -lt 20"},
		{"the host's processes cannot be signalled", "! kill -0 " + strconv.Itoa(os.Getpid()) + " 2>/dev/null || ! grep -q -- '-test\\.' /proc/" + strconv.Itoa(os.Getpid()) + "/cmdline"},
		{"no new user namespace", "! unshare -U true 2>/dev/null && ! unshare -Ur true 2>/dev/null"},
		{"no mounts", "! mount -t tmpfs none /tmp 2>/dev/null"},
		{"no capabilities", "grep -q 'CapEff:\t0000000000000000' /proc/self/status && grep -q 'NoNewPrivs:\t1' /proc/self/status"},
	}
	if _, err := exec.LookPath("node"); err == nil {
		// Node gives children their stdio over socketpair, which stays
		// allowed when Unix sockets are not.
		cases = append(cases, struct{ name, script string }{"node's child processes have their stdio", `test "$(node -e 'process.stdout.write(require("child_process").spawnSync("sh", ["-c", "echo hi"]).stdout)')" = hi`})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out, code := sh(c.script); code != 0 {
				t.Errorf("exit %d:\n%s\n%s", code, c.script, out)
			}
		})
	}
	if data, err := os.ReadFile(filepath.Join(ws, "written")); err != nil || string(data) != "ok\n" {
		t.Errorf("the workspace write did not reach the host: %q %v", data, err)
	}
	// The agent's files in the workspace are the operator's on the host,
	// whatever uid the agent has there.
	if st, err := os.Stat(filepath.Join(ws, "written")); err != nil {
		t.Error(err)
	} else if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != os.Getuid() || int(sys.Gid) != os.Getgid() {
		t.Errorf("the agent's workspace file is %d:%d on the host, want the operator's %d:%d", sys.Uid, sys.Gid, os.Getuid(), os.Getgid())
	}
}
