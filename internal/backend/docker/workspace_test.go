package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

func TestWorkspaceMountsRefuseLinks(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(root, ".git", "hooks")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".git", "config"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		readOnly []string
		want     string
	}{
		{"a plain file", []string{".git/config"}, ""},
		{"a link swapped in after the preflight", []string{".git/hooks"}, "became a symbolic link"},
		{"a path out of the workspace", []string{"../x"}, "not inside the workspace"},
		{"an absolute path", []string{"/etc"}, "not inside the workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := workspaceMounts(backend.Workspace{Mode: "mount", HostPath: root, Path: "/workspace", Pinned: []string{".git"}, ReadOnly: tc.readOnly})
			if tc.want == "" {
				if err != nil || len(ms) != 3 || !ms[2].ReadOnly || ms[1].ReadOnly || ms[2].Target != "/workspace/.git/config" {
					t.Fatalf("workspaceMounts = %+v, %v", ms, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("workspaceMounts = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
