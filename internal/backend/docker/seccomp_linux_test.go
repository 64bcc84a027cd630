package docker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestAgentProfile(t *testing.T) {
	opt, err := agentSeccomp()
	if err != nil {
		t.Fatal(err)
	}
	data, ok := strings.CutPrefix(opt, "seccomp=")
	if !ok {
		t.Fatalf("agentSeccomp() = %.40q..., want seccomp=JSON", opt)
	}
	var p seccomp.Seccomp
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		t.Fatal(err)
	}
	def := seccomp.DefaultProfile()
	if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 1 || len(p.ArchMap) != len(def.ArchMap) {
		t.Errorf("the profile's default is %v %v over %d arches, want moby's EPERM over %d", p.DefaultAction, p.DefaultErrnoRet, len(p.ArchMap), len(def.ArchMap))
	}
	// Every call moby allows stays allowed, under the same conditions,
	// except the file calls this profile narrows.
	rules := func(p *seccomp.Seccomp) map[string][]string {
		out := map[string][]string{}
		for _, s := range p.Syscalls {
			r, _ := json.Marshal(struct {
				A  specs.LinuxSeccompAction
				E  *uint
				Ar []specs.LinuxSeccompArg
				I  *seccomp.Filter
				X  *seccomp.Filter
			}{s.Action, s.ErrnoRet, s.Args, s.Includes, s.Excludes})
			for _, n := range s.Names {
				out[n] = append(out[n], string(r))
			}
		}
		return out
	}
	got, want := rules(&p), rules(def)
	narrowed := map[string]bool{"openat2": true}
	for _, c := range fileCalls {
		narrowed[c.name] = true
	}
	for n := range narrowed {
		if len(want[n]) == 0 {
			t.Errorf("moby's profile no longer allows %s; the narrowing needs a look", n)
		}
		delete(got, n)
		delete(want, n)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the profile differs from moby's beyond the file calls (-moby +agent):\n%s", diff)
	}
	// The file calls: allowed only under conditions that exclude set-id
	// modes and devices; openat2 answers ENOSYS.
	wantFile := map[string][]string{
		"chmod":     {"allow 1&06000==0"},
		"fchmod":    {"allow 1&06000==0"},
		"fchmodat":  {"allow 2&06000==0"},
		"fchmodat2": {"allow 2&06000==0"},
		"creat":     {"allow 1&06000==0"},
		"open":      {"allow 2&06000==0", "allow 1&020000100==0"},
		"openat":    {"allow 3&06000==0", "allow 2&020000100==0"},
		"mknod":     {"allow 1&026000==0"},
		"mknodat":   {"allow 2&026000==0"},
		"openat2":   {"errno 38"},
	}
	gotFile := map[string][]string{}
	for _, s := range p.Syscalls {
		for _, n := range s.Names {
			if !narrowed[n] {
				continue
			}
			switch {
			case s.Action == specs.ActAllow && len(s.Args) == 1 && s.Args[0].Op == specs.OpMaskedEqual && s.Args[0].ValueTwo == 0:
				gotFile[n] = append(gotFile[n], fmt.Sprintf("allow %d&%#o==0", s.Args[0].Index, s.Args[0].Value))
			case s.Action == specs.ActErrno && s.ErrnoRet != nil:
				gotFile[n] = append(gotFile[n], fmt.Sprintf("errno %d", *s.ErrnoRet))
			default:
				gotFile[n] = append(gotFile[n], "unexpected rule")
			}
		}
	}
	if diff := cmp.Diff(wantFile, gotFile); diff != "" {
		t.Errorf("file call rules (-want +got):\n%s", diff)
	}
}
