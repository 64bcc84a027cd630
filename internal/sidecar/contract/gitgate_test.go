package contract

import (
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

func TestGitGateHost(t *testing.T) {
	if gitGateHost != gitgate.Host {
		t.Fatalf("gitGateHost = %q, the gate serves %q", gitGateHost, gitgate.Host)
	}
}
