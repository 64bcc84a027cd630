// Package egress is the sidecar's forward proxy: the agent's only way to
// the network. It intercepts TLS with the bottle's CA, enforces the
// compiled policy on every request (host, path, method, headers, git and
// DoH rules), strips the agent's credentials and injects the route's, and
// forwards to the address it resolved itself.
//
// Security: everything not explicitly allowed by the policy is refused with
// 403 and an X-Bot-Bottle-Block code. The proxy never logs or returns a
// secret value.
package egress
