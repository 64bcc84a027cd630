package gitgate

import (
	"crypto/sha1"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func TestNewRejectsBadConfig(t *testing.T) {
	up, ck := &fakeUpstream{}, &fakeChecker{}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no-dir", Config{Repos: []Repo{{Name: "a", Upstream: up, Checker: ck}}}, "no mirror directory"},
		{"empty-name", Config{Dir: "d", Repos: []Repo{{Upstream: up, Checker: ck}}}, `invalid repository name ""`},
		{"dot-git", Config{Dir: "d", Repos: []Repo{{Name: "a.git", Upstream: up, Checker: ck}}}, "ending in .git"},
		{"dotdot", Config{Dir: "d", Repos: []Repo{{Name: "a/../b", Upstream: up, Checker: ck}}}, "invalid repository name"},
		{"space", Config{Dir: "d", Repos: []Repo{{Name: "a b", Upstream: up, Checker: ck}}}, "invalid repository name"},
		{"no-checker", Config{Dir: "d", Repos: []Repo{{Name: "a", Upstream: up}}}, "an Upstream and a Checker are required"},
		{"duplicate", Config{Dir: "d", Repos: []Repo{{Name: "a", Upstream: up, Checker: ck}, {Name: "a", Upstream: up, Checker: ck}}}, "declared twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New(%+v) = %v, want error %q", tt.cfg, err, tt.wantErr)
			}
		})
	}
	if _, err := New(Config{Dir: "d", Repos: []Repo{{Name: "org/app-1.x_y", Upstream: up, Checker: ck}}}); err != nil {
		t.Errorf("New with a nested name: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	base := strings.TrimSuffix(e.url, "/proj.git")
	tests := []struct {
		name, method, path, contentType string
		wantCode                        int
		wantType                        string
		wantBody                        string
	}{
		{"unknown-repo", "GET", "/nope.git/info/refs?service=git-upload-pack", "", 404, "text/plain; charset=utf-8", `no repository "nope" behind the git gate; declared: proj`},
		{"dumb-http", "GET", "/proj.git/HEAD", "", 404, "text/plain; charset=utf-8", "serves smart HTTP only"},
		{"dumb-info-refs", "GET", "/proj.git/info/refs", "", 403, "text/plain; charset=utf-8", `service "" not supported`},
		{"unknown-service", "GET", "/proj.git/info/refs?service=git-archive", "", 403, "text/plain; charset=utf-8", `service "git-archive" not supported`},
		{"post-info-refs", "POST", "/proj.git/info/refs?service=git-upload-pack", "", 405, "text/plain; charset=utf-8", "info/refs takes GET"},
		{"get-upload-pack", "GET", "/proj.git/git-upload-pack", "", 405, "text/plain; charset=utf-8", "git-upload-pack takes POST"},
		{"wrong-type", "POST", "/proj.git/git-receive-pack", "text/plain", 415, "text/plain; charset=utf-8", "want application/x-git-receive-pack-request"},
		{"no-git-suffix", "GET", "/proj/info/refs?service=git-receive-pack", "", 200, "application/x-git-receive-pack-advertisement", "# service=git-receive-pack"},
		{"upload-probe", "POST", "/proj/git-upload-pack", "application/x-git-upload-pack-request", 200, "application/x-git-upload-pack-result", ""},
		{"receive-probe", "POST", "/proj/git-receive-pack", "application/x-git-receive-pack-request", 200, "application/x-git-receive-pack-result", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path, strings.NewReader(flush))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode || resp.Header.Get("Content-Type") != tt.wantType || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("%s %s = %d %q %q, want %d %q containing %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.wantCode, tt.wantType, tt.wantBody)
			}
		})
	}
}

// post sends a raw protocol request to the gate and returns the response
// body.
func (e *env) post(t *testing.T, service, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", e.url+"/"+service, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-"+service+"-request")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// emptyPack is a valid pack of no objects.
func emptyPack() string {
	b := []byte("PACK")
	b = binary.BigEndian.AppendUint32(b, 2)
	b = binary.BigEndian.AppendUint32(b, 0)
	sum := sha1.Sum(b)
	return string(append(b, sum[:]...))
}

// TestReceivePackPrechecks sends commands git would never send, to check
// the refusals that come before the Checker.
func TestReceivePackPrechecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	base := e.seed()
	e.clone("work") // creates the mirror
	missing := strings.Repeat("3", 40)
	cmds := pkt(
		zero+" "+base+" refs/heads/a..b\x00report-status",
		zero+" "+base+" HEAD",
		zero+" "+missing+" refs/heads/missing",
		missing+" "+base+" refs/heads/main",
		zero+" "+base+" refs/heads/ok",
	) + flush
	got := e.post(t, serviceReceive, cmds+emptyPack())
	want := pkt(
		"unpack ok\n",
		"ng refs/heads/a..b invalid ref name\n",
		"ng HEAD invalid ref name\n",
		"ng refs/heads/missing missing necessary objects\n",
		"ng refs/heads/main fetch first\n",
		"ok refs/heads/ok\n",
	) + flush
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report-status (-want +got):\n%s", diff)
	}
	e.wantRef(t, "refs/heads/ok", base)
}

func TestUploadPackOnlyAdvertisedWants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	tree := e.rev(dir, "HEAD^{tree}")
	got := e.post(t, serviceUpload, pkt("want "+tree+" side-band-64k\n")+flush+pkt("done\n"))
	if want := pkt("ERR upload-pack: not our ref " + tree + "\n"); got != want {
		t.Errorf("want of an unadvertised object answered %q, want %q", got, want)
	}
}

func TestMirrorRemembersAdvertisedValues(t *testing.T) {
	m := &mirror{advertised: map[plumbing.Hash]time.Time{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.remember([]refLine{{"refs/heads/a", plumbing.NewHash(hashA)}}, t0)
	m.remember([]refLine{{"refs/heads/a", plumbing.NewHash(hashB)}}, t0.Add(advertisedTTL/2))
	if len(m.advertised) != 2 {
		t.Errorf("after two advertisements within the TTL, remembered %v, want both values", m.advertised)
	}
	m.remember(nil, t0.Add(advertisedTTL+time.Second))
	if _, ok := m.advertised[plumbing.NewHash(hashA)]; ok || len(m.advertised) != 1 {
		t.Errorf("past the TTL of the first value, remembered %v, want only %s", m.advertised, hashB)
	}
}
