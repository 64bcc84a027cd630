package supervise

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/policy"
)

// risks computes a route request's risk flags from facts the sidecar
// holds: the policy in force, the addresses the host reaches, the
// bottle's refusals. The agent's reason plays no part.
func (b *Board) risks(ctx context.Context, cur *policy.Policy, req RouteRequest) []Risk {
	var out []Risk
	if b.cfg.Resolve != nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		addrs := b.cfg.Resolve(rctx, req.Host)
		cancel()
		for _, a := range addrs {
			if !public(a) {
				out = append(out, Risk{Code: RiskPrivateAddress, Text: fmt.Sprintf("%s reaches %s, an address of a private, loopback, link-local or other non-public network", req.Host, a)})
				break
			}
		}
	}
	if matchesAll(req.Paths) {
		out = append(out, Risk{Code: RiskMatchAll, Text: "the paths allow every path on " + req.Host})
	}
	if rt, ok := cur.Lookup(req.Host); ok && rt.Auth != nil {
		out = append(out, Risk{Code: RiskCredentialReach, Text: fmt.Sprintf("%s carries a credential (%s): wider paths or methods extend that credential's reach", req.Host, rt.Auth.Form())})
	}
	if len(req.Methods) == 0 {
		out = append(out, Risk{Code: RiskWriteMethod, Text: "every method, writes included"})
	} else if w := slices.DeleteFunc(slices.Clone(req.Methods), func(m string) bool { return !slices.Contains(writeMethods, m) }); len(w) > 0 {
		out = append(out, Risk{Code: RiskWriteMethod, Text: "write methods: " + strings.Join(w, ", ")})
	}
	b.mu.Lock()
	refused := b.dlpRefused[req.Host]
	b.mu.Unlock()
	if refused {
		out = append(out, Risk{Code: RiskDLPRefused, Text: "outbound DLP refused a request of this bottle to " + req.Host + " before"})
	}
	return out
}

// maxDLPHosts bounds the hosts NoteRefusal remembers.
const maxDLPHosts = 4096

// NoteRefusal tells the board of one of the bottle's refusals (the
// sidecar's audit stream): the hosts outbound DLP refused are a risk
// flag of later route requests.
func (b *Board) NoteRefusal(rule, host string) {
	if rule != "dlp-outbound" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dlpRefused == nil {
		b.dlpRefused = map[string]bool{}
	}
	if len(b.dlpRefused) < maxDLPHosts {
		b.dlpRefused[hostOnly(host)] = true
	}
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// nonPublic are IPv4 ranges that are neither private nor loopback nor
// link-local, yet not on the public internet either (IANA special-use).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// public reports whether a is a public unicast address.
func public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
