package manifest

// Migration hints for key shapes of the original tool, so that an old
// manifest fails with directions instead of a bare "unknown key".
//
//nolint:gosec // G101: migration hints that mention token fields, not credentials.
var (
	retiredBottleKeys = map[string]string{
		"git":             "it was renamed: move its keys under git-gate",
		"supervise":       "supervise is always on; delete this key",
		"runtime":         "gVisor is detected automatically; delete this key",
		"identity":        "repository keys moved to git-gate.repos.NAME.key {provider: static, path: FILE}",
		"provisioned_key": "deploy keys moved to git-gate.repos.NAME.key {provider: gitea, forge_token_env: VAR}",
		"cred_proxy":      "credential routes moved to egress.routes with auth {scheme, token_ref}",
		"egress_proxy":    "routes moved to egress.routes",
		"path_allowlist":  "path rules moved to egress.routes[].matches[].paths",
		"pipelock":        "pipelock was replaced by the egress proxy: declare egress.routes (TLS passthrough and SSRF IP allowlists are gone)",
	}
	retiredEgressKeys = map[string]string{
		"allowlist":  "write one egress.routes entry per host: - host: NAME",
		"dlp_action": "set dlp.outbound_on_match on each route",
	}
	retiredRouteKeys = map[string]string{
		"path_allowlist": "write matches: [{paths: [{type: prefix, value: /PATH}]}]",
		"pipelock":       "pipelock was replaced by the egress proxy; delete this key",
		"auth_scheme":    "write auth: {scheme: Bearer, token_ref: VAR}",
		"token_env":      "write auth: {scheme: Bearer, token_ref: VAR}",
	}
	retiredRepoKeys = map[string]string{
		"identity":        "write key: {provider: static, path: FILE}",
		"provisioned_key": "write key: {provider: gitea, forge_token_env: VAR, api_url: URL}",
		"Upstream":        "write url: ssh://user@host/path",
		"IdentityFile":    "write key: {provider: static, path: FILE}",
		"KnownHostKey":    "write host_key: \"ssh-ed25519 AAAA…\"",
	}
	// bottleOnlyHint explains why agents may not carry boundary keys.
	bottleOnlyHint = "is bottle-only: agents cannot change the security boundary; move it to a bottle"
)
