package cli

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bot-bottle/bot-bottle/internal/buildinfo"
)

func TestVersionFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    versionOptions
		wantErr bool
	}{
		{"plain", nil, versionOptions{}, false},
		{"json", []string{"--json"}, versionOptions{JSON: true}, false},
		{"json-false", []string{"--json=false"}, versionOptions{}, false},
		{"argument", []string{"extra"}, versionOptions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			var got *versionOptions
			cmd := newVersionCmd(env, func(o *versionOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(env.IO.Out)
			cmd.SetErr(env.IO.ErrOut)
			err := cmd.Execute()
			if tt.wantErr {
				if _, ok := errors.AsType[FlagError](err); !ok {
					t.Errorf("version %q: err = %v, want a FlagError", tt.args, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("version %q: %v", tt.args, err)
			}
			if got.env != env {
				t.Errorf("version %q: options carry env %p, want %p", tt.args, got.env, env)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreUnexported(versionOptions{})); diff != "" {
				t.Errorf("version %q options (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestRunVersion(t *testing.T) {
	env, output := testEnv(t)
	if err := runVersion(&versionOptions{env: env}); err != nil {
		t.Fatalf("runVersion: %v", err)
	}
	if out, _ := output(); out != buildinfo.String()+"\n" {
		t.Errorf("runVersion printed %q, want %q", out, buildinfo.String()+"\n")
	}
}

func TestRunVersionJSON(t *testing.T) {
	env, output := testEnv(t)
	if err := runVersion(&versionOptions{env: env, JSON: true}); err != nil {
		t.Fatalf("runVersion --json: %v", err)
	}
	out, _ := output()
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("runVersion --json printed %q: %v", out, err)
	}
	want := map[string]string{
		"version":  buildinfo.Version(),
		"commit":   buildinfo.Commit(),
		"go":       runtime.Version(),
		"platform": runtime.GOOS + "/" + runtime.GOARCH,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("runVersion --json (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(out, "}\n") {
		t.Errorf("runVersion --json = %q, want a trailing newline", out)
	}
}
