package gitgate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPushLarge pushes more than git's 1 MiB post buffer, which git sends
// chunked after a probe request.
func TestPushLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.seed()
	dir := e.clone("work")
	c := e.commit(dir, "big.bin", randomFile(t, 3<<20), "big")
	e.requests.take()
	e.run(dir, "push", "--quiet", "origin", "main")
	e.wantRef(t, "refs/heads/main", c)

	var probe, chunked bool
	for _, r := range e.requests.take() {
		if r.method == "POST" {
			probe = probe || r.probe
			chunked = chunked || r.chunked
		}
	}
	if !probe || !chunked {
		t.Errorf("push sent a probe %v and a chunked body %v, want both", probe, chunked)
	}
	e.run(e.mirror, "fsck", "--full", "--strict")
}

func TestPushTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxPack  int64
		content  string
		wantText string
	}{
		{"content-length", 256 << 10, randomFile(t, 512<<10), "256.0 KiB"},
		// Far over the limit, so that the gate must drain the body for
		// the client to read the refusal.
		{"chunked", 1 << 20, randomFile(t, 16<<20), "1.0 MiB"},
		// A small pack that inflates to more than four times the limit.
		{"inflated", 256 << 10, strings.Repeat("0", 2<<20), "256.0 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{maxPack: tt.maxPack})
			base := e.seed()
			dir := e.clone("work")
			e.takeEvents()
			c := e.commit(dir, "big.bin", tt.content, "big")
			out := e.fail(dir, "push", "origin", "main")
			for _, want := range []string{
				"remote: gate: push refused: it is larger than the gate's limit of " + tt.wantText + "; push fewer or smaller commits",
				"error: remote unpack failed: pack exceeds the size limit",
				" ! [remote rejected] main -> main (push too large)",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("git push printed:\n%s\nwant %q", out, want)
				}
			}
			e.wantRef(t, "refs/heads/main", base)
			if e.exists(e.mirror, c) {
				t.Errorf("refused commit %s is in the mirror", c)
			}
			want := []Event{{Repo: "proj", Op: OpPush, Ref: "refs/heads/main", Decision: DecisionRefuse, Rule: "push-too-large", Detail: "push too large"}}
			if diff := cmp.Diff(want, e.takeEvents()); diff != "" {
				t.Errorf("audit events (-want +got):\n%s", diff)
			}
		})
	}
}
