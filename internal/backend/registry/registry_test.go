package registry

import (
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlatformOrder(t *testing.T) {
	want := []string{"docker"}
	if runtime.GOOS == "linux" {
		want = append(want, "native")
	}
	r := Platform()
	if diff := cmp.Diff(want, r.Names()); diff != "" {
		t.Errorf("Platform().Names() (-want +got):\n%s", diff)
	}
	if r.Default() != "docker" {
		t.Errorf("Default() = %q, want docker", r.Default())
	}
	for _, name := range want {
		be, err := r.Build(name, Config{Home: t.TempDir()})
		if err != nil {
			t.Fatalf("Build(%s): %v", name, err)
		}
		if be.Name() != name {
			t.Errorf("Build(%s).Name() = %q", name, be.Name())
		}
	}
}

func TestUnknownNamesTheKnown(t *testing.T) {
	_, err := Platform().Build("vmware", Config{})
	if err == nil || !strings.Contains(err.Error(), "known: docker") {
		t.Fatalf("Build(vmware) = %v, want an error listing the known backends", err)
	}
}
