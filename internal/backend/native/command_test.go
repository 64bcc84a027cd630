//go:build linux

package native

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A native bottle runs the host's programs: a CLI installed off the
// system PATH is found where the bottle shows it, and refused with what to
// do where it does not.
func TestHostCommand(t *testing.T) {
	// /var is shown read-only in a bottle; /tmp (t.TempDir) is not.
	shown, err := os.MkdirTemp("/var/tmp", "bot-bottle-cmd-") //nolint:usetesting // t.TempDir is under /tmp, which a bottle does not show
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(shown) })
	home := t.TempDir()
	hidden := filepath.Join(shown, "secret")
	for _, d := range []string{filepath.Join(shown, "bin"), filepath.Join(home, "bin"), hidden} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := func(p string) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe(filepath.Join(shown, "bin", "agentcli"))
	exe(filepath.Join(home, "bin", "homecli"))
	exe(filepath.Join(hidden, "real"))
	if err := os.Symlink(filepath.Join(hidden, "real"), filepath.Join(shown, "bin", "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shown, "bin", "plain"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hostPath := strings.Join([]string{"relative/bin", filepath.Join(home, "bin"), filepath.Join(shown, "bin"), "/usr/bin", hidden}, ":")
	// The folders the bottle shows, after its own.
	withShown := bottlePath + ":" + filepath.Join(shown, "bin")

	for _, tc := range []struct {
		name     string
		cmd      []string
		want     []string
		wantPath string
		err      string
	}{
		{name: "on the bottle's PATH", cmd: []string{"sh", "-c", "true"}, want: []string{"sh", "-c", "true"}, wantPath: withShown},
		{name: "absolute", cmd: []string{"/opt/x/agentcli"}, want: []string{"/opt/x/agentcli"}, wantPath: withShown},
		{name: "found where the bottle shows it", cmd: []string{"agentcli", "-p", "hi"},
			want: []string{filepath.Join(shown, "bin", "agentcli"), "-p", "hi"}, wantPath: withShown},
		{name: "in a home", cmd: []string{"homecli"}, err: "in /tmp, which a native bottle does not show"},
		{name: "a link into a hidden folder", cmd: []string{"linked"}, err: "a link to " + filepath.Join(hidden, "real") + " in " + hidden},
		{name: "not executable", cmd: []string{"plain"}, want: []string{"plain"}, wantPath: withShown},
		{name: "nowhere", cmd: []string{"no-such-cli"}, want: []string{"no-such-cli"}, wantPath: withShown},
		{name: "no command", cmd: nil, want: nil, wantPath: withShown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, path, err := hostCommand(tc.cmd, hostPath, []string{hidden})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--backend docker") {
					t.Fatalf("error = %v, want one saying %q and what to do", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
			if path != tc.wantPath {
				t.Errorf("PATH = %q, want %q", path, tc.wantPath)
			}
		})
	}
}
