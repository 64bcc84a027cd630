package hits

import (
	"encoding/json"
	"fmt"
)

// Probe operations, the first argument of the probe command.
const (
	OpTCP  = "tcp"
	OpUDP  = "udp"
	OpICMP = "icmp"
	OpDNS  = "dns"
	OpHTTP = "http"
)

// ProbeResult is the one JSON line the probe command prints for an
// escape attempt from inside a bottle. The probe exits 0 when Reached,
// 1 when not, and 2 on a usage error (printing no result).
type ProbeResult struct {
	Op     string `json:"op"`
	Target string `json:"target"`
	// Reached is true when the target was reached: a TCP connection was
	// established (even if nothing was read), a UDP or ICMP reply came
	// back, a DNS answer was NOERROR with at least one record, or an
	// HTTP connection was established.
	Reached bool `json:"reached"`
	// Detail says what happened, for people.
	Detail string `json:"detail"`
}

// ParseProbe decodes the probe command's output.
func ParseProbe(out []byte) (ProbeResult, error) {
	var r ProbeResult
	if err := json.Unmarshal(out, &r); err != nil {
		return ProbeResult{}, fmt.Errorf("decoding probe output %q: %w", out, err)
	}
	return r, nil
}
