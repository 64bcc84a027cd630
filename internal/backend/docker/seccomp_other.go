//go:build !linux

package docker

import "errors"

// agentSeccomp fails closed where moby's default profile, which the
// agent's is built from, is not compiled in: a Docker bottle without its
// set-id rules would let the agent leave set-user-ID files in the
// workspace.
func agentSeccomp() (string, error) {
	return "", errors.New("the agent's seccomp profile is built only by a Linux build of bot-bottle: run it on Linux, or use another backend")
}
