package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/launch"
	"github.com/bot-bottle/bot-bottle/internal/provider"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

const testPolicy = `{"version": 1, "bottle": "t", "log": 2,
  "routes": [{"host": "api.allowed.test", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"},
    "dlp": {"outbound": ["known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false}],
  "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "T", "hosts": ["api.allowed.test"]}]}`

// tinyImage needs nothing but the base image: bash's /dev/tcp is the client.
const tinyImage = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN useradd -u 1000 -m -s /bin/bash agent && mkdir -p /workspace && chown agent:agent /workspace
`

func testSpec(t *testing.T, slug string, cmd ...string) *backend.Spec {
	t.Helper()
	base := backendtest.BaseImage(t)
	dir := t.TempDir()
	if _, err := egress.LoadOrCreateCA(filepath.Join(dir, "ca"), "t"); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(pol, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	return &backend.Spec{
		Slug: slug, Agent: "test", Bottles: []string{"t"},
		StateDir:     dir,
		PolicyFile:   pol,
		CADir:        filepath.Join(dir, "ca"),
		Secrets:      map[string]secret.Value{"EGRESS_TOKEN_0": secret.New("s3cr3t-token-value")},
		ControlToken: secret.New("0123456789abcdef0123456789abcdef-docker-test"),
		Image:        backend.Image{Name: "bot-bottle-test-tiny", Dockerfile: tinyImage, BuildArgs: map[string]string{"BASE_IMAGE": base}},
		User:         backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"},
		Env:          []backend.EnvVar{{Name: "GREETING", Value: secret.New("hello")}},
		Files:        []backend.File{{Path: "/home/agent/.config/test/note.txt", Mode: 0o600, Data: []byte("provisioned\n")}},
		Workspace:    backend.Workspace{Mode: "none", Path: "/workspace"},
		Resources:    backend.Resources{MilliCPUs: 500, Memory: 256 << 20, Pids: 128},
		Command:      cmd,
		OwnerPID:     os.Getpid(),
	}
}

func newDriver(t *testing.T) *Driver {
	t.Helper()
	backendtest.RequireDocker(t)
	d := New(Config{SidecarBinary: backendtest.StaticBinary(t)})
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func execOut(t *testing.T, d *Driver, slug string, cmd ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code, err := d.Exec(context.Background(), slug, backend.Exec{Cmd: cmd, Stdio: backend.Stdio{Stdout: &out, Stderr: &out}})
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	return out.String(), code
}

func TestStartExecStop(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	slug := fmt.Sprintf("test-%d", time.Now().UnixNano()%1_000_000)
	spec := testSpec(t, slug, "sleep", "infinity")
	t.Cleanup(func() { _ = d.Stop(context.Background(), slug) })
	var progress bytes.Buffer
	if err := d.Start(ctx, spec, &progress); err != nil {
		t.Fatalf("start: %v\n%s", err, progress.String())
	}

	out, code := execOut(t, d, slug, "sh", "-c", `id -u; id -g; echo "$GREETING"; cat ~/.config/test/note.txt; stat -c %U:%a ~/.config/test/note.txt ~/.config; grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status; echo "$HTTPS_PROXY"; echo "$SSL_CERT_FILE"; grep -c 'BEGIN CERT' /usr/local/share/ca-certificates/bot-bottle.crt; cmp /etc/ssl/certs/ca-certificates.crt "$SSL_CERT_FILE" && echo bundle-is-the-bottle-ca`)
	if code != 0 {
		t.Fatalf("exec exit %d: %s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"1000", "1000", "hello", "provisioned", "agent:600", "agent:755", "CapEff:\t0000000000000000", "NoNewPrivs:\t1"}
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			t.Fatalf("line %d: got %q, want %q\nall:\n%s", i, lines[min(i, len(lines)-1)], w, out)
		}
	}
	if !strings.HasPrefix(lines[8], "http://") || !strings.HasSuffix(lines[8], ":9099") {
		t.Errorf("HTTPS_PROXY = %q", lines[8])
	}
	if lines[9] != backend.AgentCAFile || lines[10] != "1" || lines[11] != "bundle-is-the-bottle-ca" {
		t.Errorf("CA: %q", lines[9:])
	}
	// The secret is nowhere in the agent's environment.
	if out, _ := execOut(t, d, slug, "sh", "-c", "cat /proc/1/environ /proc/self/environ; env"); strings.Contains(out, "s3cr3t") {
		t.Errorf("secret visible in the bottle: %s", out)
	}
	// The limits are applied.
	cli, err := d.client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insp, err := cli.ContainerInspect(ctx, agentName(slug), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := insp.Container.HostConfig.Resources; r.NanoCPUs != 500_000_000 || r.Memory != 256<<20 || r.PidsLimit == nil || *r.PidsLimit != 128 {
		t.Errorf("limits: cpus %d memory %d pids %v", r.NanoCPUs, r.Memory, r.PidsLimit)
	}
	noSetID, err := agentSeccomp()
	if err != nil {
		t.Fatal(err)
	}
	if hc := insp.Container.HostConfig; !slices.Contains(hc.CapDrop, "ALL") || !slices.Contains(hc.SecurityOpt, "no-new-privileges") || !slices.Contains(hc.SecurityOpt, noSetID) || hc.Privileged {
		t.Errorf("hardening: capdrop %v securityopt %.200q privileged %v", hc.CapDrop, hc.SecurityOpt, hc.Privileged)
	}
	// Exit status is the command's.
	if _, code := execOut(t, d, slug, "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exit = %d, want 7", code)
	}

	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *backend.Instance
	for i := range list {
		if list[i].Slug == slug {
			found = &list[i]
		}
	}
	if found == nil || found.State != "running" || found.Agent != "test" || len(found.Resources) != 4 {
		t.Fatalf("list: %+v", found)
	}

	if err := d.Stop(ctx, slug); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, slug); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	list, err = d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.Slug == slug {
			t.Fatalf("left behind: %+v", in)
		}
	}
}

// TestMountedWorkspaceAsHostUser runs the shell provider's image with the
// agent user remapped to an operator's ids, as launch does for a mounted
// workspace, and checks that the agent writes the tree as that user.
func TestMountedWorkspaceAsHostUser(t *testing.T) {
	d := newDriver(t)
	const uid = 4321
	ws := t.TempDir()
	if err := os.Chown(ws, uid, uid); err != nil {
		t.Skipf("cannot hand the workspace to uid %d: %v", uid, err)
	}
	img, err := provider.Recipe("shell", "", backendtest.BaseImage(t))
	if err != nil {
		t.Fatal(err)
	}
	img, user := launch.MatchHostUser(img, provider.AgentUser, uid, uid)
	slug := fmt.Sprintf("test-%d", time.Now().UnixNano()%1_000_000)
	spec := testSpec(t, slug, "sleep", "infinity")
	spec.Image, spec.User = img, user
	spec.Files = nil
	spec.Workspace = backend.Workspace{Mode: "mount", HostPath: ws, Path: "/workspace"}
	t.Cleanup(func() { _ = d.Stop(context.Background(), slug) })
	var progress bytes.Buffer
	if err := d.Start(context.Background(), spec, &progress); err != nil {
		t.Fatalf("start: %v\n%s", err, progress.String())
	}
	out, code := execOut(t, d, slug, "sh", "-c", "id -un; id -u; touch /workspace/made-here && touch ~/in-home")
	if code != 0 || out != "agent\n4321\n" {
		t.Fatalf("exit %d: %q", code, out)
	}
	st, err := os.Stat(filepath.Join(ws, "made-here"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Sys().(*syscall.Stat_t).Uid; got != uid {
		t.Errorf("file owner %d, want %d", got, uid)
	}
}
