package launch

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/scaffold"
)

func resolve(t *testing.T, home, agent string, bottles ...string) *manifest.Resolved {
	t.Helper()
	ix, err := manifest.Discover(manifest.Config{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	res, ds := ix.Resolve(agent, bottles)
	if ds.HasErrors() {
		t.Fatalf("resolve: %v", ds)
	}
	return res
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestPrepare(t *testing.T) {
	home := t.TempDir()
	if _, err := scaffold.Write(home); err != nil {
		t.Fatal(err)
	}
	res := resolve(t, home, "example", "claude")
	proj := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proj, ".git", "hooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, ".git", "config"), []byte("[core]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Home: home, Cwd: proj, Resolved: res, Backend: "docker", HostUID: 0, HostGID: 0}

	// The route's token is read from the host; without it, nothing starts.
	_, err := Prepare(opts)
	if err == nil || !strings.Contains(err.Error(), "BOT_BOTTLE_CLAUDE_OAUTH_TOKEN (for api.anthropic.com)") {
		t.Fatalf("missing token: %v", err)
	}

	opts.LookupEnv = env(map[string]string{"BOT_BOTTLE_CLAUDE_OAUTH_TOKEN": "sk-ant-oat01-real-token"})
	l, err := Prepare(opts)
	if err != nil {
		t.Fatal(err)
	}
	spec := l.Spec
	if !regexp.MustCompile(`^example-[0-9a-z]{5}$`).MatchString(spec.Slug) {
		t.Errorf("slug %q", spec.Slug)
	}
	if got := spec.Secrets["EGRESS_TOKEN_0"].Reveal(); got != "sk-ant-oat01-real-token" {
		t.Errorf("secret slot: %q", got)
	}
	for _, e := range spec.Env {
		if strings.Contains(e.Value.Reveal(), "real-token") {
			t.Errorf("the agent's env holds the token: %s", e.Name)
		}
	}
	for _, f := range spec.Files {
		if strings.Contains(string(f.Data), "real-token") {
			t.Errorf("file %s holds the token", f.Path)
		}
	}
	want := backend.Workspace{
		Mode: "mount", HostPath: proj, Path: "/workspace",
		Pinned:   []string{".git"},
		ReadOnly: []string{".bot-bottle", ".git/commondir", ".git/config", ".git/hooks", ".git/modules", ".git/worktrees"},
	}
	if diff := cmp.Diff(want, spec.Workspace); diff != "" {
		t.Errorf("workspace (-want +got):\n%s", diff)
	}
	if spec.StateDir != filepath.Join(home, "state", spec.Slug) || spec.User.UID != 1000 {
		t.Errorf("state %s, user %+v", spec.StateDir, spec.User)
	}
	if _, err := os.Stat(spec.StateDir); !os.IsNotExist(err) {
		t.Fatalf("Prepare wrote the state folder: %v", err)
	}

	// Write persists; Retire removes the key and the policy, keeps the record.
	if err := l.Write(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"policy.json", "ca/ca.key", "ca/ca.crt", "bottle.json"} {
		if _, err := os.Stat(filepath.Join(spec.StateDir, f)); err != nil {
			t.Errorf("after Write: %v", err)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(spec.StateDir, "policy.json")); strings.Contains(string(data), "real-token") {
		t.Error("the policy file holds the token")
	}
	rec, err := ReadRecord(home, spec.Slug)
	if err != nil || rec.Agent != "example" || rec.Cwd != proj {
		t.Fatalf("record: %+v %v", rec, err)
	}
	// The absent protected paths were created for the bottle, and Retire
	// removes them; what the operator had stays.
	placeholders := []string{".bot-bottle", ".git/commondir", ".git/modules", ".git/worktrees"}
	for _, p := range placeholders {
		if _, err := os.Stat(filepath.Join(proj, p)); err != nil {
			t.Errorf("after Write: %v", err)
		}
	}
	if err := Retire(home, spec.Slug); err != nil {
		t.Fatal(err)
	}
	for _, p := range placeholders {
		if _, err := os.Stat(filepath.Join(proj, p)); !os.IsNotExist(err) {
			t.Errorf("after Retire: %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(proj, ".git", "config")); err != nil {
		t.Errorf("Retire removed the operator's git config: %v", err)
	}
	if _, err := os.Stat(filepath.Join(spec.StateDir, "ca", "ca.key")); !os.IsNotExist(err) {
		t.Errorf("the CA key survived Retire: %v", err)
	}
	if _, err := ReadRecord(home, spec.Slug); err != nil {
		t.Errorf("the record did not survive Retire: %v", err)
	}
}

func TestMatchHostUser(t *testing.T) {
	img := backend.Image{Name: "i", Dockerfile: "FROM x\n", BuildArgs: map[string]string{"BASE_IMAGE": "b"}}
	u := backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"}
	for _, tc := range []struct {
		name     string
		uid, gid int
		remapped bool
	}{
		{"root keeps the image user", 0, 0, false},
		{"same ids", 1000, 1000, false},
		{"other user", 1234, 2345, true},
		{"other group", 1000, 50, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotImg, gotU := MatchHostUser(img, u, tc.uid, tc.gid)
			if !tc.remapped {
				if diff := cmp.Diff(img, gotImg); diff != "" || gotU != u {
					t.Fatalf("changed: %s %+v", diff, gotU)
				}
				return
			}
			if gotU.UID != tc.uid || gotU.GID != tc.gid || gotImg.BuildArgs["BASE_IMAGE"] != "b" ||
				!strings.Contains(gotImg.Dockerfile, "usermod -o -u") || img.BuildArgs["AGENT_UID"] != "" {
				t.Fatalf("image %+v user %+v", gotImg, gotU)
			}
		})
	}
}

func TestNewSlug(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		s, err := NewSlug("a")
		if err != nil || !regexp.MustCompile(`^a-[0-9a-z]{5}$`).MatchString(s) {
			t.Fatalf("%q %v", s, err)
		}
		seen[s] = true
	}
	if len(seen) < 45 {
		t.Errorf("slugs repeat: %d distinct of 50", len(seen))
	}
}

func TestNamedPathsAreHidden(t *testing.T) {
	dir := t.TempDir()
	cred := filepath.Join(dir, "gcp.json")
	tokenFile := filepath.Join(dir, "token")
	tool := filepath.Join(dir, "tool")
	for f, mode := range map[string]os.FileMode{cred: 0o600, tokenFile: 0o600, tool: 0o755} {
		if err := os.WriteFile(f, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	b := &manifest.Bottle{
		Env: []manifest.EnvVar{
			{Name: "GOOGLE_APPLICATION_CREDENTIALS", Value: manifest.EnvValue{Mode: manifest.EnvHost, HostVar: "GAC"}},
			{Name: "CONFIG_DIR", Value: manifest.EnvValue{Mode: manifest.EnvLiteral, Literal: dir + "/"}},
			{Name: "EDITOR", Value: manifest.EnvValue{Mode: manifest.EnvLiteral, Literal: tool}},
			{Name: "SHELL_PATH", Value: manifest.EnvValue{Mode: manifest.EnvLiteral, Literal: "/usr/bin"}},
			{Name: "MISSING", Value: manifest.EnvValue{Mode: manifest.EnvLiteral, Literal: "/nonexistent/file"}},
			{Name: "WORD", Value: manifest.EnvValue{Mode: manifest.EnvLiteral, Literal: "hello"}},
		},
		Egress: manifest.Egress{Routes: []manifest.Route{{Host: "a.test", Auth: &manifest.Auth{Scheme: "Bearer", TokenRef: "TOKEN_FILE"}}}},
	}
	got := namedPaths(b, env(map[string]string{"GAC": cred, "TOKEN_FILE": tokenFile}))
	want := []string{dir, cred, tokenFile}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("namedPaths (-want +got):\n%s", diff)
	}
}

// TestWorkspaceModesAgree keeps the manifest's workspace modes and the
// backend's typed ones the same set: launch converts one into the other.
func TestWorkspaceModesAgree(t *testing.T) {
	for _, m := range []string{manifest.WorkspaceMount, manifest.WorkspaceCopy, manifest.WorkspaceNone} {
		switch backend.WorkspaceMode(m) {
		case backend.WorkspaceMount, backend.WorkspaceCopy, backend.WorkspaceNone:
		default:
			t.Errorf("manifest workspace mode %q has no backend mode", m)
		}
	}
}
