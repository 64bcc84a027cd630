package landlock

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Landlock cannot be undone, so every case runs in a child: the test
// binary again, as TestHelperProcess, which applies the rules, tries one
// operation and prints the outcome for the parent to check.
const (
	envCase     = "BOT_BOTTLE_LANDLOCK_CASE"
	envWritable = "BOT_BOTTLE_LANDLOCK_RW"
	envReadOnly = "BOT_BOTTLE_LANDLOCK_RO"
	resultTag   = "landlock-helper:"
)

// missing is in every case's rules: Apply must skip it.
const missing = "/nonexistent/bot-bottle-landlock-test"

// dirs are a case's fixtures: rw is in Rules.Writable, ro is not. Both
// are writable to the test's user, so a refusal comes from Landlock.
type dirs struct{ rw, ro string }

type helperCase struct {
	name string
	// rules defaults to rw and missing writable.
	rules func(d dirs) Rules
	op    func(d dirs) error
	// want lists the accepted outcomes: ok, an errno name, exit (a
	// child process failed) or apply-error.
	want []string
	// minABI is the ABI below which Landlock does not enforce this; the
	// outcome is then logged, not checked.
	minABI int
}

var refused = []string{"EACCES", "EXDEV"}

func helperCases() []helperCase {
	write := func(p string) error { return os.WriteFile(p, []byte("new"), 0o644) }
	return []helperCase{
		{name: "create_in_writable", op: func(d dirs) error { return write(filepath.Join(d.rw, "new")) }, want: []string{"ok"}},
		{name: "overwrite_in_writable", op: func(d dirs) error { return write(filepath.Join(d.rw, "existing")) }, want: []string{"ok"}},
		{name: "truncate_in_writable", op: func(d dirs) error { return os.Truncate(filepath.Join(d.rw, "existing"), 0) }, want: []string{"ok"}},
		{name: "delete_in_writable", op: func(d dirs) error { return os.Remove(filepath.Join(d.rw, "existing")) }, want: []string{"ok"}},
		{name: "mkdir_rmdir_in_writable", op: func(d dirs) error {
			p := filepath.Join(d.rw, "dir", "sub")
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			return os.RemoveAll(filepath.Join(d.rw, "dir"))
		}, want: []string{"ok"}},
		{name: "symlink_in_writable", op: func(d dirs) error { return os.Symlink("existing", filepath.Join(d.rw, "link")) }, want: []string{"ok"}},
		{name: "fifo_in_writable", op: func(d dirs) error { return unix.Mkfifo(filepath.Join(d.rw, "fifo"), 0o600) }, want: []string{"ok"}},
		{name: "rename_in_writable", op: func(d dirs) error {
			return os.Rename(filepath.Join(d.rw, "existing"), filepath.Join(d.rw, "renamed"))
		}, want: []string{"ok"}},
		{name: "rename_between_writable_dirs", op: func(d dirs) error {
			return os.Rename(filepath.Join(d.rw, "a", "f"), filepath.Join(d.rw, "b", "f"))
		}, want: []string{"ok"}, minABI: 2},
		{name: "write_outside", op: func(d dirs) error { return write(filepath.Join(d.ro, "new")) }, want: []string{"EACCES"}},
		{name: "overwrite_outside", op: func(d dirs) error { return write(filepath.Join(d.ro, "existing")) }, want: []string{"EACCES"}},
		{name: "mkdir_outside", op: func(d dirs) error { return os.Mkdir(filepath.Join(d.ro, "dir"), 0o755) }, want: []string{"EACCES"}},
		{name: "delete_outside", op: func(d dirs) error { return os.Remove(filepath.Join(d.ro, "existing")) }, want: []string{"EACCES"}},
		{name: "symlink_outside", op: func(d dirs) error { return os.Symlink("existing", filepath.Join(d.ro, "link")) }, want: []string{"EACCES"}},
		{name: "truncate_outside", op: func(d dirs) error { return os.Truncate(filepath.Join(d.ro, "existing"), 0) }, want: []string{"EACCES"}, minABI: 3},
		{name: "rename_writable_to_readonly", op: func(d dirs) error {
			return os.Rename(filepath.Join(d.rw, "existing"), filepath.Join(d.ro, "moved"))
		}, want: refused},
		{name: "rename_readonly_to_writable", op: func(d dirs) error {
			return os.Rename(filepath.Join(d.ro, "existing"), filepath.Join(d.rw, "moved"))
		}, want: refused},
		{name: "link_writable_to_readonly", op: func(d dirs) error {
			return os.Link(filepath.Join(d.rw, "existing"), filepath.Join(d.ro, "linked"))
		}, want: refused},
		{name: "read_outside", op: func(d dirs) error { return readExisting(filepath.Join(d.ro, "existing")) }, want: []string{"ok"}},
		{name: "list_outside", op: func(d dirs) error {
			_, err := os.ReadDir(d.ro)
			return err
		}, want: []string{"ok"}},
		{name: "exec_true", op: func(dirs) error { return exec.Command("/bin/true").Run() }, want: []string{"ok"}},
		{name: "write_dev_null", op: func(dirs) error { return write("/dev/null") }, want: []string{"ok"}},
		{name: "open_pty", op: func(dirs) error { return openPTY() }, want: []string{"ok"}},
		{name: "child_writes_writable", op: func(d dirs) error { return shellWrite(filepath.Join(d.rw, "new")) }, want: []string{"ok"}},
		{name: "child_writes_outside", op: func(d dirs) error { return shellWrite(filepath.Join(d.ro, "new")) }, want: []string{"exit"}},
		{name: "empty_writable", rules: func(dirs) Rules { return Rules{} },
			op: func(d dirs) error { return write(filepath.Join(d.rw, "new")) }, want: []string{"EACCES"}},
		{name: "file_in_writable", rules: func(d dirs) Rules { return Rules{Writable: []string{filepath.Join(d.rw, "existing")}} },
			op: func(dirs) error { return nil }, want: []string{"apply-error"}},
		{name: "relative_path", rules: func(dirs) Rules { return Rules{Writable: []string{"relative"}} },
			op: func(dirs) error { return nil }, want: []string{"apply-error"}},
	}
}

func readExisting(p string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if string(b) != "old" {
		return fmt.Errorf("read %q from %s, want %q", b, p, "old")
	}
	return nil
}

// openPTY opens a new pseudo-terminal and uses the ioctls a shell needs.
func openPTY() error {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer ptmx.Close()
	fd := int(ptmx.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return err
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		return err
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer pts.Close()
	if _, err := unix.IoctlGetWinsize(int(pts.Fd()), unix.TIOCGWINSZ); err != nil {
		return err
	}
	_, err = unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
	return err
}

// shellWrite writes p from a child shell, which inherits the restriction.
func shellWrite(p string) error {
	return exec.Command("/bin/sh", "-c", `echo new > "$1"`, "sh", p).Run()
}

// outcome names an error the way helperCase.want does.
func outcome(err error) string {
	var errno unix.Errno
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	case errors.As(err, &exit):
		return "exit"
	default:
		return "error: " + err.Error()
	}
}

// TestHelperProcess is the child: it does nothing unless envCase is set.
func TestHelperProcess(t *testing.T) {
	name := os.Getenv(envCase)
	if name == "" {
		t.Skip("run by TestApply")
	}
	d := dirs{rw: os.Getenv(envWritable), ro: os.Getenv(envReadOnly)}
	i := slices.IndexFunc(helperCases(), func(c helperCase) bool { return c.name == name })
	if i < 0 {
		t.Fatalf("unknown case %q", name)
	}
	c := helperCases()[i]
	r := Rules{Writable: []string{d.rw, missing}, WritableFiles: []string{missing}}
	if c.rules != nil {
		r = c.rules(d)
	}
	abi, err := Apply(r)
	result := "apply-error"
	if err == nil {
		result = outcome(c.op(d))
	}
	// Exit at once: the test framework has nothing left to write.
	fmt.Printf("%s abi=%d result=%s\n", resultTag, abi, result)
	os.Exit(0)
}

func TestApply(t *testing.T) {
	kernel := ABI()
	if kernel == 0 {
		t.Skip("the kernel has no Landlock; enable it with lsm=landlock,... on the kernel command line")
	}
	for _, c := range helperCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := dirs{rw: t.TempDir(), ro: t.TempDir()}
			for _, p := range []string{filepath.Join(d.rw, "a"), filepath.Join(d.rw, "b")} {
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range []string{filepath.Join(d.rw, "existing"), filepath.Join(d.rw, "a", "f"), filepath.Join(d.ro, "existing")} {
				if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			abi, result := runHelper(t, c.name, d)
			if !slices.Contains(c.want, "apply-error") && abi != kernel {
				t.Errorf("Apply() = ABI %d, want %d", abi, kernel)
			}
			if abi < c.minABI {
				t.Logf("ABI %d < %d does not enforce this: %s gave %s, not checked", abi, c.minABI, c.name, result)
				return
			}
			if !slices.Contains(c.want, result) {
				t.Errorf("%s after Apply = %s, want one of %v", c.name, result, c.want)
			}
		})
	}
}

// runHelper runs case name in a child and returns what it printed.
func runHelper(t *testing.T, name string, d dirs) (abi int, result string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envCase+"="+name, envWritable+"="+d.rw, envReadOnly+"="+d.ro,
		// A race-enabled child otherwise sleeps a second before exiting.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s: %v\nstdout: %s\nstderr: %s", name, err, out, stderr.Bytes())
	}
	for line := range strings.Lines(string(out)) {
		rest, ok := strings.CutPrefix(line, resultTag)
		if !ok {
			continue
		}
		abiText, result, _ := strings.Cut(strings.TrimSpace(rest), " ")
		if _, err := fmt.Sscanf(abiText, "abi=%d", &abi); err != nil {
			t.Fatalf("helper %s printed %q: %v", name, line, err)
		}
		return abi, strings.TrimPrefix(result, "result=")
	}
	t.Fatalf("helper %s printed no result\nstdout: %s\nstderr: %s", name, out, stderr.Bytes())
	return 0, ""
}

func TestABI(t *testing.T) {
	raw, _, err := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, 1) // LANDLOCK_CREATE_RULESET_VERSION
	if err != 0 {
		t.Skipf("the kernel has no Landlock (%v)", err)
	}
	got := ABI()
	switch {
	case int(raw) < minABI && got != 0:
		t.Errorf("ABI() = %d, want 0: this build enforces from ABI %d, the kernel has %d", got, minABI, raw)
	case int(raw) >= minABI && (got < 1 || got > int(raw)):
		t.Errorf("ABI() = %d, want 1..%d (the kernel's version)", got, raw)
	}
}
