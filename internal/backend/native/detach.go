//go:build linux

package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/sandbox/cgroup"
)

// SuperviseRole is the hidden subcommand a detached bottle's supervisor
// runs as.
const SuperviseRole = "bottle-supervise"

// plan is what a detached bottle's supervisor needs to start the bottle,
// computed by Start from the Spec: the supervisor reads no manifest and
// no environment. It travels over a pipe, never the disk, because it
// holds the route secrets (in the sidecar's environment).
type plan struct {
	Version int    `json:"version"`
	Slug    string `json:"slug"`
	Binary  string `json:"binary"`
	// SidecarDoc is the sidecar's launch document.
	SidecarDoc []byte `json:"sidecar_doc"`
	InitConfig string `json:"init_config"`
	TTY        bool   `json:"tty"`
	// Limits are the bottle's resources, for the supervisor to apply.
	Limits cgroup.Limits `json:"limits"`
	// AllowUnenforcedLimits lets the bottle run without the limits the
	// host cannot enforce.
	AllowUnenforcedLimits bool `json:"allow_unenforced_limits,omitempty"`
	// RetireEnv is the bottle's Spec.RetireEnv, for Retire.
	RetireEnv []planVar `json:"retire_env,omitempty"`
}

// planVar is one variable of the plan, its value in the clear: the plan
// only ever travels over a pipe.
type planVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// planVersion is the version of plan this binary writes and reads.
const planVersion = 3

// readyTimeout bounds the wait for a detached bottle to start: the
// supervisor's own wait for the sidecar is shorter.
const readyTimeout = time.Minute

// startDetached starts a supervisor for the bottle in dir, in a session
// of its own, so that neither this process's death nor its terminal's
// hang-up reaches it, and waits until the bottle's command runs.
func (d *Driver) startDetached(ctx context.Context, bin string, spec *backend.Spec, dir string) error {
	sockDir := filepath.Join(dir, "sidecar")
	if err := os.Mkdir(sockDir, 0o700); err != nil {
		return err
	}
	doc, err := sidecarDocument(spec, filepath.Join(sockDir, "egress.sock"), dir)
	if err != nil {
		return err
	}
	cfgPath, err := writeInitConfig(spec, dir, sockDir, filepath.Join(dir, "control.sock"))
	if err != nil {
		return err
	}
	p := plan{Version: planVersion, Slug: spec.Slug, Binary: bin, SidecarDoc: doc, InitConfig: cfgPath, TTY: spec.TTY, Limits: limitsOf(spec.Resources), AllowUnenforcedLimits: spec.AllowUnenforcedLimits}
	for _, v := range spec.RetireEnv {
		p.RetireEnv = append(p.RetireEnv, planVar{Name: v.Name, Value: v.Value.Reveal()})
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	planR, planW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer func() { _ = planW.Close() }()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		_ = planR.Close()
		return err
	}
	defer func() { _ = readyR.Close() }()
	logPath := filepath.Join(dir, "supervisor.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		_ = planR.Close()
		_ = readyW.Close()
		return err
	}
	cmd := exec.Command(bin, SuperviseRole, dir) //nolint:gosec // G204: our own binary
	// Named bot-bottle whatever the binary is called: stop and list
	// check that a recorded pid still is one.
	cmd.Args[0] = "bot-bottle"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if lvl, ok := os.LookupEnv("BOT_BOTTLE_LOG_LEVEL"); ok {
		cmd.Env = append(cmd.Env, "BOT_BOTTLE_LOG_LEVEL="+lvl)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{planR, readyW}
	// No parent-death signal: the supervisor outlives us on purpose.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	_ = planR.Close()
	_ = readyW.Close()
	_ = logf.Close()
	if err != nil {
		return fmt.Errorf("starting the bottle's supervisor: %w", err)
	}
	// Reaps the supervisor should it end while we still run.
	go func() { _ = cmd.Wait() }()
	_, werr := planW.Write(data)
	_ = planW.Close()
	answer := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(readyR)
		answer <- strings.TrimSpace(string(b))
	}()
	var line string
	select {
	case line = <-answer:
	case <-time.After(readyTimeout):
		line = "the bottle did not start within " + readyTimeout.String()
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return ctx.Err()
	}
	if line == "ok" {
		d.log.Debug("started detached", "slug", spec.Slug, "supervisor", cmd.Process.Pid)
		return nil
	}
	// The supervisor's children die with it.
	_ = cmd.Process.Kill()
	if line == "" {
		line = "the bottle's supervisor exited during set-up"
		if werr != nil {
			line += " (" + werr.Error() + ")"
		}
		if tail := lastLines(logPath, 5); tail != "" {
			line += ":\n" + tail
		}
	}
	return errors.New(line)
}

// lastLines returns the end of a log file, for an error message.
func lastLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
