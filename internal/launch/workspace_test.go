package launch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestCheckWorkspace(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home", "op")
	bbHome := filepath.Join(home, ".bot-bottle")
	elsewhereBB := filepath.Join(base, "srv", "bb")
	named := filepath.Join(base, "creds", "sa.json")
	for _, d := range []string{filepath.Join(home, ".ssh"), filepath.Join(home, "src", "proj"), filepath.Join(home, ".config", "gcloud", "legacy"), bbHome, elsewhereBB, filepath.Dir(named), filepath.Join(base, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(named, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Links to refused places are refused as the places themselves.
	link := filepath.Join(base, "work", "home-link")
	if err := os.Symlink(home, link); err != nil {
		t.Fatal(err)
	}
	sshLink := filepath.Join(base, "work", "ssh-link")
	if err := os.Symlink(filepath.Join(home, ".ssh"), sshLink); err != nil {
		t.Fatal(err)
	}
	lookup := env(map[string]string{"HOME": home})
	for _, tc := range []struct {
		name, ws, bbHome string
		// want is a part of the error, or "" for a workspace that starts.
		want string
	}{
		{"a project under the home", filepath.Join(home, "src", "proj"), bbHome, ""},
		{"a folder outside the home", filepath.Join(base, "work"), bbHome, ""},
		{"the home", home, bbHome, "is your home folder"},
		{"a link to the home", link, bbHome, "is your home folder"},
		{"the parent of the home", filepath.Dir(home), bbHome, "contains " + home + ", your home folder"},
		{"the root", "/", bbHome, "is the root folder"},
		{"the system configuration", "/etc", bbHome, "is the system configuration"},
		{"inside the system configuration", "/etc/ssl", bbHome, "is inside /etc, the system configuration"},
		{"the ssh folder", filepath.Join(home, ".ssh"), bbHome, "is ssh keys"},
		{"a link to the ssh folder", sshLink, bbHome, "is ssh keys"},
		{"inside a credential folder", filepath.Join(home, ".config", "gcloud", "legacy"), bbHome, "is inside " + filepath.Join(home, ".config", "gcloud") + ", Google Cloud credentials"},
		{"the bot-bottle home", bbHome, bbHome, "is the bot-bottle home"},
		{"inside the bot-bottle home", filepath.Join(bbHome, "bottles"), bbHome, "is inside " + bbHome},
		{"a folder holding the bot-bottle home", filepath.Dir(elsewhereBB), elsewhereBB, "contains " + elsewhereBB + ", the bot-bottle home"},
		{"a folder holding a named credential", filepath.Dir(named), bbHome, "contains " + named + ", a file the bottle's env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkWorkspace(tc.ws, guards(Options{Home: tc.bbHome, LookupEnv: lookup}, []string{named}))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("checkWorkspace(%s) = %v, want nil", tc.ws, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("checkWorkspace(%s) = %v, want an error with %q", tc.ws, err, tc.want)
			case err != nil && !strings.Contains(err.Error(), "cd into a project folder"):
				t.Fatalf("the error does not say what to do: %v", err)
			}
		})
	}
}

// tree makes files ("name": content), folders ("name/": "") and links
// ("name@": target) below root.
func tree(t *testing.T, root string, entries map[string]string) {
	t.Helper()
	for name, v := range entries {
		p := filepath.Join(root, strings.TrimRight(name, "/@"))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasSuffix(name, "@"):
			err = os.Symlink(v, p)
		default:
			err = os.WriteFile(p, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestProtectWorkspace(t *testing.T) {
	gitDir := func(d string) []string {
		return []string{d + "/commondir", d + "/config", d + "/hooks", d + "/modules", d + "/worktrees"}
	}
	for _, tc := range []struct {
		name    string
		entries map[string]string
		want    Protection
		// placeholders are the relative paths Create makes.
		placeholders []string
		err          string
	}{
		{
			name:         "a repository",
			entries:      map[string]string{".git/config": "[core]\n", ".git/hooks/": "", ".git/HEAD": "ref: refs/heads/main\n", "src/main.go": "package main\n"},
			want:         Protection{Pinned: []string{".git"}, ReadOnly: append([]string{".bot-bottle"}, gitDir(".git")...)},
			placeholders: []string{".bot-bottle", ".git/commondir", ".git/modules", ".git/worktrees"},
		},
		{
			name:         "no repository: an empty .git the agent cannot fill",
			entries:      map[string]string{"notes.txt": "x"},
			want:         Protection{ReadOnly: []string{".bot-bottle", ".git"}},
			placeholders: []string{".bot-bottle", ".git"},
		},
		{
			name: "editor and tool files, when present",
			entries: map[string]string{".git/": "", ".bot-bottle/agents/a.md": "x", ".gitmodules": "", ".envrc": "", ".vscode/tasks.json": "{}",
				".mcp.json": "{}", ".claude/settings.json": "{}", ".claude/commands/": "", ".claude/CLAUDE.md": "x"},
			want: Protection{Pinned: []string{".claude", ".git"}, ReadOnly: append([]string{".bot-bottle", ".envrc", ".gitmodules", ".mcp.json", ".vscode",
				".claude/commands", ".claude/settings.json"}, gitDir(".git")...)},
			placeholders: []string{".git/commondir", ".git/config", ".git/hooks", ".git/modules", ".git/worktrees"},
		},
		{
			name:         "a worktree's .git file pointing outside the workspace",
			entries:      map[string]string{".git": "gitdir: /srv/repo/.git/worktrees/ws\n", ".bot-bottle/": ""},
			want:         Protection{ReadOnly: []string{".bot-bottle", ".git"}},
			placeholders: nil,
		},
		{
			name:         "a .git file pointing inside the workspace",
			entries:      map[string]string{".git": "gitdir: vendor/gitdir\n", "vendor/gitdir/config": "", "vendor/gitdir/hooks/": "", ".bot-bottle/": ""},
			want:         Protection{Pinned: []string{"vendor", "vendor/gitdir"}, ReadOnly: append([]string{".bot-bottle", ".git"}, gitDir("vendor/gitdir")...)},
			placeholders: []string{"vendor/gitdir/commondir", "vendor/gitdir/modules", "vendor/gitdir/worktrees"},
		},
		{
			name: "a submodule: its .git file, and its git folder under the read-only .git/modules",
			entries: map[string]string{".git/config": "", ".git/hooks/": "", ".git/modules/sub/config": "", ".bot-bottle/": "",
				".gitmodules": "[submodule \"sub\"]\n\tpath = sub\n\turl = ../sub.git\n[submodule \"x\"]\n\tpath = ../escape\n",
				"sub/.git":    "gitdir: ../.git/modules/sub\n"},
			want:         Protection{Pinned: []string{".git", "sub"}, ReadOnly: append(append([]string{".bot-bottle", ".gitmodules"}, gitDir(".git")...), "sub/.git")},
			placeholders: []string{".git/commondir", ".git/worktrees"},
		},
		{
			name:         "a file where a protected folder's parent would be",
			entries:      map[string]string{".git/config": "", ".git/hooks/": "", ".bot-bottle/": "", ".claude": "notes"},
			want:         Protection{Pinned: []string{".git"}, ReadOnly: append([]string{".bot-bottle"}, gitDir(".git")...)},
			placeholders: []string{".git/commondir", ".git/modules", ".git/worktrees"},
		},
		{
			name:    "a symlinked hooks folder",
			entries: map[string]string{".git/config": "", ".git/hooks@": "/tmp/elsewhere"},
			err:     "hooks is a symbolic link",
		},
		{
			name:    "a symlinked .git",
			entries: map[string]string{".git@": "/tmp/elsewhere"},
			err:     ".git is a symbolic link",
		},
		{
			name:    "a symlinked .bot-bottle",
			entries: map[string]string{".git/": "", ".bot-bottle@": "/tmp/elsewhere"},
			err:     ".bot-bottle is a symbolic link",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tree(t, root, tc.entries)
			p, err := ProtectWorkspace(root)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "workspace.protect: false") {
					t.Fatalf("ProtectWorkspace = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, *p, cmpopts.IgnoreFields(Protection{}, "Placeholders"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ProtectWorkspace (-want +got):\n%s", diff)
			}
			made, err := p.Create()
			if err != nil {
				t.Fatal(err)
			}
			var rels []string
			for _, ph := range made {
				rel, _ := filepath.Rel(root, ph.Path)
				rels = append(rels, rel)
			}
			if diff := cmp.Diff(tc.placeholders, rels, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("placeholders (-want +got):\n%s", diff)
			}
			// Every protected path exists now, so that it can be bound.
			for _, rel := range append(slices.Clone(p.Pinned), p.ReadOnly...) {
				if _, err := os.Lstat(filepath.Join(root, rel)); err != nil {
					t.Errorf("after Create: %v", err)
				}
			}
			if err := RemovePlaceholders(made); err != nil {
				t.Fatal(err)
			}
			for _, ph := range made {
				if _, err := os.Lstat(ph.Path); !os.IsNotExist(err) {
					t.Errorf("after RemovePlaceholders: %s: %v", ph.Path, err)
				}
			}
		})
	}
}

func TestProtectWorkspaceHardLink(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{".git/config": "[core]\n"})
	if err := os.Link(filepath.Join(root, ".git", "config"), filepath.Join(root, "config-alias")); err != nil {
		t.Fatal(err)
	}
	if _, err := ProtectWorkspace(root); err == nil || !strings.Contains(err.Error(), "has 2 hard links") {
		t.Fatalf("ProtectWorkspace = %v, want a refusal of the hard-linked config", err)
	}
}

func TestRemovePlaceholdersKeepsWhatChanged(t *testing.T) {
	root := t.TempDir()
	p := &Protection{Placeholders: []Placeholder{
		{Path: filepath.Join(root, "d"), Dir: true},
		{Path: filepath.Join(root, "f"), Data: ".\n"},
	}}
	made, err := p.Create()
	if err != nil || len(made) != 2 {
		t.Fatalf("Create = %v, %v", made, err)
	}
	// The operator used both in the meantime.
	tree(t, root, map[string]string{"d/kept": "x"})
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("../other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemovePlaceholders(made); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"d/kept", "f"} {
		if _, err := os.Stat(filepath.Join(root, n)); err != nil {
			t.Errorf("RemovePlaceholders removed what changed: %v", err)
		}
	}
}

// Placeholders stay while another bottle of the same workspace runs: its
// binds of them would vanish with them.
func TestRetireKeepsPlaceholdersOfABusyWorkspace(t *testing.T) {
	home, proj := t.TempDir(), t.TempDir()
	p, err := ProtectWorkspace(proj)
	if err != nil {
		t.Fatal(err)
	}
	made, err := p.Create()
	if err != nil || len(made) == 0 {
		t.Fatalf("Create = %v, %v", made, err)
	}
	for _, slug := range []string{"a-00000", "b-00000"} {
		dir := StateDir(home, slug)
		if err := os.MkdirAll(filepath.Join(dir, "ca"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := WriteRecord(dir, Record{Slug: slug, Cwd: proj, Placeholders: made}); err != nil {
			t.Fatal(err)
		}
	}
	if err := Retire(home, "a-00000"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(proj, ".git")); err != nil {
		t.Fatalf("Retire of one bottle removed the placeholders of another: %v", err)
	}
	if err := Retire(home, "b-00000"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(proj, ".git")); !os.IsNotExist(err) {
		t.Fatalf("the last bottle's Retire left the placeholders: %v", err)
	}
}

func TestAccountHomes(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/bash\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
		"alice:x:1000:1000:Alice:/home/alice:/bin/bash\n" +
		"svc:x:999:999::/:/bin/false\n" +
		"odd:x:1001:1001::home/odd:/bin/sh\n" +
		"dots:x:1002:1002::/home/../etc:/bin/sh\n" +
		"short:x:1003\n" +
		"bob:x:1004:1004::/home/bob\r\n" +
		"mac:x:501:20::/Users/mac:/bin/zsh\n" +
		"alice2:x:1005:1005::/home/alice:/bin/bash\n"
	want := []string{"/root", "/home/alice", "/Users/mac"}
	if diff := cmp.Diff(want, accountHomes([]byte(passwd))); diff != "" {
		t.Errorf("accountHomes (-want +got):\n%s", diff)
	}
}

func TestCheckWorkspaceOtherAccounts(t *testing.T) {
	base := t.TempDir()
	old := passwdFile
	t.Cleanup(func() { passwdFile = old })
	passwdFile = filepath.Join(base, "passwd")
	if err := os.WriteFile(passwdFile, []byte("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gs := guards(Options{Home: filepath.Join(base, "bb"), LookupEnv: env(map[string]string{"HOME": "/root"})}, nil)
	for _, tc := range []struct{ ws, want string }{
		{"/home", "contains /home/alice, a user's home folder"},
		{"/home/alice", "is a user's home folder"},
		{"/home/alice/.ssh", "is ssh keys of another user"},
		{"/home/alice/.aws/sso", "is inside /home/alice/.aws, AWS credentials of another user"},
		{"/home/alice/src/proj", ""},
	} {
		err := checkWorkspace(tc.ws, gs)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkWorkspace(%s) = %v, want %q", tc.ws, err, tc.want)
		}
	}
}
