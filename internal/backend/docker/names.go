package docker

import (
	"strconv"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// Resource names of one bottle. IDs are used after creation; names make
// the resources recognizable in `docker ps` and are checked for clashes.
func agentName(slug string) string     { return "bot-bottle-" + slug }
func sidecarName(slug string) string   { return "bot-bottle-" + slug + "-sidecar" }
func bottleNetName(slug string) string { return "bot-bottle-" + slug }
func egressNetName(slug string) string { return "bot-bottle-" + slug + "-egress" }
func sidecarProxyURL(ip string) string {
	return "http://" + ip + ":" + strconv.Itoa(backend.PortEgress)
}
func labels(spec *backend.Spec, role string) map[string]string {
	l := map[string]string{
		backend.LabelManaged:  "1",
		backend.LabelSlug:     spec.Slug,
		backend.LabelRole:     role,
		backend.LabelAgent:    spec.Agent,
		backend.LabelBottles:  strings.Join(spec.Bottles, ","),
		backend.LabelStateDir: spec.StateDir,
	}
	// A detached bottle's owner is its starter: while it lives, a
	// partial detached bottle is one still starting.
	if spec.OwnerPID > 0 {
		l[backend.LabelOwner] = strconv.Itoa(spec.OwnerPID)
	}
	if spec.Detached {
		l[labelDetached] = "1"
	}
	return l
}

// labelDetached marks the resources of a bottle started detached.
const labelDetached = "io.bot-bottle.detached"
