//go:build linux

package native

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape"
)

// TestRootOperatorWorkspaceOwner starts a root operator's bottle in a
// tree another user owns (a sudo start in their project): the agent
// writes there, as agentHostID, and what it writes stays that user's.
func TestRootOperatorWorkspaceOwner(t *testing.T) {
	if !rootOperator() {
		t.Skip("only a root operator's agent gets an idmapped workspace")
	}
	const owner = 4242
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "theirs"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ws, filepath.Join(ws, "theirs")} {
		if err := os.Chown(p, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	d := New(Config{Binary: backendtest.StaticBinary(t)})
	h := &escape.Harness{Backend: d, User: backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"}, Probe: backendtest.BuildStatic(t, "./internal/testinfra/escape/probe"), ProbePath: "/home/agent/bin/bb-probe"}
	spec := h.Spec(t, fmt.Sprintf("native-owner-%d", time.Now().UnixNano()%1_000_000))
	spec.Workspace = backend.Workspace{Mode: "mount", HostPath: ws, Path: "/workspace"}
	t.Cleanup(func() { _ = d.Stop(context.Background(), spec.Slug) })
	if err := d.Start(context.Background(), spec, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	script := "echo ok >> /workspace/theirs && echo ok > /workspace/new && stat -c '%u %g' /workspace/new /workspace/theirs"
	code, err := d.Exec(context.Background(), spec.Slug, backend.Exec{Cmd: []string{"bash", "-c", script}, Stdio: backend.Stdio{Stdout: &out, Stderr: &out}})
	if err != nil || code != 0 {
		t.Fatalf("exit %d %v: %s", code, err, out.String())
	}
	if got := out.String(); got != "1000 1000\n1000 1000\n" {
		t.Errorf("the agent sees its workspace files as %q, want its own 1000 1000", got)
	}
	for _, name := range []string{"new", "theirs"} {
		st, err := os.Stat(filepath.Join(ws, name))
		if err != nil {
			t.Fatal(err)
		}
		if sys := st.Sys().(*syscall.Stat_t); sys.Uid != owner || sys.Gid != owner {
			t.Errorf("the host sees %s as %d:%d, want the workspace owner's %d:%d", name, sys.Uid, sys.Gid, owner, owner)
		}
	}
}

// TestWorkspaceTreeRefusesWithoutIdmap checks the message a root
// operator gets for a workspace whose filesystem has no idmapped mounts
// (sysfs has none), and that one that has them gets its tree.
func TestWorkspaceTreeRefusesWithoutIdmap(t *testing.T) {
	if !rootOperator() {
		t.Skip("only a root operator's agent gets an idmapped workspace")
	}
	bin := backendtest.StaticBinary(t)
	for _, tt := range []struct {
		host, wantErr string
	}{
		{t.TempDir(), ""},
		{"/sys/kernel", "use workspace mode copy"},
	} {
		cfg := filepath.Join(t.TempDir(), "init.json")
		data := fmt.Sprintf(`{"workspace_mode": "mount", "workspace_host": %q, "workspace_path": "/workspace", "workspace_tree": true}`, tt.host)
		if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		tree, err := workspaceTree(bin, cfg)
		if tree != nil {
			_ = tree.Close()
		}
		switch {
		case tt.wantErr == "" && (err != nil || tree == nil):
			t.Errorf("workspaceTree(%s) = %v, %v; want a tree", tt.host, tree, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("workspaceTree(%s) error = %v, want one saying %q", tt.host, err, tt.wantErr)
		}
	}
}
