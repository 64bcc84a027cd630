package escape

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/control"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// ControlToken is the suite's control channel token: the host's key to
// the sidecar, which the bottle must neither see nor be able to use.
const ControlToken = "bb-escape-control-5b1f0e9a7c3d2e4f6a8b0c1d2e3f4a5b" //nolint:gosec // G101: a test credential

// runControlChannel checks that the host reaches the sidecar's control
// channel and the bottle does not, by any address or through the proxy,
// even holding the token.
func (h *Harness) runControlChannel(t *testing.T, slug string, addrs Addrs) {
	t.Run("the host reaches the control channel", func(t *testing.T) {
		// Without this, every refusal below could be a channel that is
		// not there at all.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := control.NewClient(func(ctx context.Context) (net.Conn, error) { return h.Backend.DialControl(ctx, slug) }, secret.New(ControlToken))
		defer c.Close()
		hl, err := c.Health(ctx)
		if err != nil || hl.Services["egress"] != "up" {
			t.Fatalf("health = %+v, %v", hl, err)
		}
		bad := control.NewClient(func(ctx context.Context) (net.Conn, error) { return h.Backend.DialControl(ctx, slug) }, secret.New(ControlToken+"x"))
		defer bad.Close()
		if _, err := bad.Health(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("a wrong token got %v, want 401", err)
		}
	})
	t.Run("control token is invisible in the bottle", func(t *testing.T) {
		half := len(ControlToken) / 2
		script := `T1='` + ControlToken[:half] + `'; T2='` + ControlToken[half:] + `'; env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' | grep -v "^T1="; grep -rsl -- "$T1$T2" /home /root /tmp /etc /workspace /var /run /opt /usr/local 2>/dev/null; true`
		if out, _ := h.sh(t, slug, script); strings.Contains(out, ControlToken) {
			t.Fatalf("control token visible in the bottle:\n%s", out)
		}
	})
	// The bottle is handed the token here, as if it had leaked: the
	// channel must still be out of reach.
	auth := `-H "Authorization: Bearer $(printf %s '` + ControlToken + `')"`
	health := func(via, url string) string {
		return "! curl -sS --max-time 5 " + via + " " + auth + " " + url + " 2>&1 | grep -q '\"services\"'"
	}
	targets := []string{"127.0.0.1:9199", "localhost:9199"}
	if addrs.Sidecar != "" && !strings.HasPrefix(addrs.Sidecar, "127.") {
		for _, p := range []string{"9199", "9099", "53", "80"} {
			targets = append(targets, addrs.Sidecar+":"+p)
		}
	}
	cases := []struct{ name, script string }{
		{"no control socket in the bottle", "! find / -xdev \\( -name 'sidecar.ctl' -o -name '*.ctl' \\) -print 2>/dev/null | grep -q ."},
		{"control API through the proxy port", health("", "http://_egress.local/v1/health") + " && " + health("", "http://127.0.0.1:9199/v1/health")},
		{"CONNECT to the sidecar's loopback", "curl -sS --max-time 5 -o /dev/null -w '%{http_connect}' -p " + auth + " http://127.0.0.1:9199/v1/health | grep -qvx 200"},
	}
	for _, tg := range targets {
		cases = append(cases, struct{ name, script string }{"control API at " + strings.TrimPrefix(tg, addrs.Sidecar+":"), health("--noproxy '*'", "http://"+tg+"/v1/health")})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out, code := h.sh(t, slug, c.script); code != 0 {
				t.Errorf("control channel reachable from the bottle (exit %d):\n%s\n%s", code, c.script, out)
			}
		})
	}
}
