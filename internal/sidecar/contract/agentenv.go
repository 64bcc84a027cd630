package contract

import (
	"net/url"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// gitGateHost is gitgate.Host, kept here so that backends need not build
// the gate (a test keeps the two equal).
const gitGateHost = "_gitgate.local"

// Agent is how the agent reaches its sidecar on one backend.
type Agent struct {
	// Proxy is the egress proxy's URL as the agent dials it, e.g.
	// "http://172.18.0.2:9099".
	Proxy string
	// CAFile is where the bottle CA is provisioned in the runtime.
	CAFile string
	// Path, when set, is the agent's PATH (a backend whose runtime has no
	// image environment of its own).
	Path string
	// Term, when set, is the operator's TERM, for a bottle with a terminal.
	Term string
}

// Variables naming the in-bottle services, for tools and the agent's
// prompts: every service is reached through the proxy.
const (
	EnvProxy   = "BOT_BOTTLE_PROXY"
	EnvGitGate = "BOT_BOTTLE_GIT_GATE"
	// EnvMCP is the URL of the sidecar's MCP server (supervise): the
	// proxy port's /mcp, reached directly.
	EnvMCP = "BOT_BOTTLE_MCP_URL"
)

// NoProxy is what the agent's clients connect to directly: its own
// loopback and, added by AgentEnv, the proxy's own host (for the MCP
// server on its port); nothing else.
const NoProxy = "localhost,127.0.0.1,::1"

// noProxy is NoProxy with the host of proxyURL.
func noProxy(proxyURL string) string {
	u, err := url.Parse(proxyURL)
	if err != nil || u.Hostname() == "" {
		return NoProxy
	}
	for h := range strings.SplitSeq(NoProxy, ",") {
		if h == u.Hostname() {
			return NoProxy
		}
	}
	return NoProxy + "," + u.Hostname()
}

// AgentEnv is the agent's whole environment on every backend: its user,
// the proxy and CA variables, the in-bottle service addresses, then the
// bottle's own variables. A bottle variable never overrides one of ours.
func AgentEnv(spec *backend.Spec, a Agent) []string {
	env := []string{
		"HOME=" + spec.User.Home, "USER=" + spec.User.Name, "LOGNAME=" + spec.User.Name,
	}
	if a.Path != "" {
		env = append(env, "PATH="+a.Path)
	}
	if a.Term != "" && spec.TTY {
		env = append(env, "TERM="+a.Term)
	}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"} {
		env = append(env, k+"="+a.Proxy)
	}
	np := noProxy(a.Proxy)
	env = append(env, "NO_PROXY="+np, "no_proxy="+np)
	for _, name := range backend.CAEnv {
		env = append(env, name+"="+a.CAFile)
	}
	env = append(env, EnvProxy+"="+a.Proxy, EnvGitGate+"=http://"+gitGateHost+"/", EnvMCP+"="+strings.TrimSuffix(a.Proxy, "/")+"/mcp")
	ours := map[string]bool{}
	for _, kv := range env {
		for i := range len(kv) {
			if kv[i] == '=' {
				ours[kv[:i]] = true
				break
			}
		}
	}
	for _, e := range spec.Env {
		if !ours[e.Name] {
			env = append(env, e.Name+"="+e.Value.Reveal())
		}
	}
	return env
}
