//go:build linux

package native

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/backend/native/inside"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape"
)

// TestExecTakesExactlyThreeDescriptors sends exec requests carrying more
// descriptors than stdin, stdout and stderr to a real bottle's init: it
// must refuse them rather than let any extra one reach the command.
func TestExecTakesExactlyThreeDescriptors(t *testing.T) {
	if os.Getuid() != 0 {
		backendtest.Missing(t, "a native bottle here needs root")
	}
	d := New(Config{Binary: backendtest.StaticBinary(t)})
	h := &escape.Harness{Backend: d, User: backend.User{Name: "agent", UID: 1000, GID: 1000, Home: "/home/agent"}, Probe: backendtest.BuildStatic(t, "./internal/testinfra/escape/probe"), ProbePath: "/home/agent/bin/bb-probe"}
	spec := h.Spec(t, fmt.Sprintf("ctl-%d", time.Now().UnixNano()%1_000_000))
	t.Cleanup(func() { _ = d.Stop(context.Background(), spec.Slug) })
	if err := d.Start(context.Background(), spec, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := d.get(spec.Slug)
	if err != nil {
		t.Fatal(err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = devnull.Close() }()
	marker, err := os.CreateTemp(t.TempDir(), "extra")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = marker.Close() }()
	for _, n := range []int{4, 8} {
		t.Run(fmt.Sprintf("%d descriptors", n), func(t *testing.T) {
			fds := []int{int(devnull.Fd()), int(devnull.Fd()), int(devnull.Fd())}
			for len(fds) < n {
				fds = append(fds, int(marker.Fd()))
			}
			c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: b.control, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			req, _ := json.Marshal(inside.ExecRequest{Command: []string{"sh", "-c", "echo ran > $HOME/ran-" + fmt.Sprint(n)}})
			if _, _, err := c.WriteMsgUnix(req, unix.UnixRights(fds...), nil); err != nil {
				t.Fatal(err)
			}
			var res inside.ExecResult
			if err := json.NewDecoder(c).Decode(&res); err != nil {
				t.Fatal(err)
			}
			if res.Status != 125 || !strings.Contains(res.Error, "want exactly 3 descriptors") {
				t.Fatalf("the init answered %+v, want a refusal", res)
			}
		})
	}
	// Neither request ran; a proper one does.
	var out strings.Builder
	code, err := d.Exec(context.Background(), spec.Slug, backend.Exec{Cmd: []string{"sh", "-c", "ls $HOME/ran-* 2>/dev/null; echo checked"}, Stdio: backend.Stdio{Stdout: &out, Stderr: &out}})
	if err != nil || code != 0 || out.String() != "checked\n" {
		t.Fatalf("exec: %d, %v\n%s", code, err, out.String())
	}
}
