package policy

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

var (
	repoNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	sshUserRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+-]*$`)
	keySlotRE  = regexp.MustCompile(`^` + KeySlotPrefix + `[0-9]+$`)
)

func (g *GitGate) prepare(errs *errorList) {
	if u := g.User; u != nil {
		if u.Name == "" && u.Email == "" {
			errs.add("git_gate.user", "empty; omit it")
		}
		// Security: the user is written into the agent's gitconfig; a
		// newline would let it add configuration of its own.
		if hasControl(u.Name) {
			errs.add("git_gate.user.name", "%q holds a control character", u.Name)
		}
		if hasControl(u.Email) {
			errs.add("git_gate.user.email", "%q holds a control character", u.Email)
		}
	}
	if g.Repos == nil {
		g.Repos = []Repo{}
	}
	names := map[string]int{}
	slots := map[string]int{}
	for i := range g.Repos {
		r := &g.Repos[i]
		where := fmt.Sprintf("git_gate.repos[%d]", i)
		if !repoNameRE.MatchString(r.Name) || r.Name == "." || r.Name == ".." {
			errs.add(where+".name", "%q is not a repository name (letters, digits, ., _ and -)", r.Name)
		} else if j, dup := names[r.Name]; dup {
			errs.add(where+".name", "%q is already git_gate.repos[%d]", r.Name, j)
		} else {
			names[r.Name] = i
		}
		r.checkURL(where, errs)
		if r.HostKey != "" {
			if err := checkHostKey(r.HostKey); err != nil {
				errs.add(where+".host_key", "%v", err)
			}
		}
		if r.Key.Provider != manifest.KeyProviderStatic && r.Key.Provider != manifest.KeyProviderGitea {
			errs.add(where+".key.provider", "%q is not a key provider; allowed: static, gitea", r.Key.Provider)
		}
		if !keySlotRE.MatchString(r.Key.Slot) {
			errs.add(where+".key.slot", "%q is not a key slot (%sN)", r.Key.Slot, KeySlotPrefix)
		} else if j, dup := slots[r.Key.Slot]; dup {
			errs.add(where+".key.slot", "%q is already used by git_gate.repos[%d]", r.Key.Slot, j)
		} else {
			slots[r.Key.Slot] = i
		}
		for k, b := range r.Branches {
			if err := manifest.CheckBranchPattern(b); err != nil {
				errs.add(fmt.Sprintf("%s.branches[%d]", where, k), "%v", err)
			}
		}
		if r.ProtectedPaths == nil {
			errs.add(where+".protected_paths", "missing; write [] to protect no path")
		}
		for k, p := range r.ProtectedPaths {
			if err := manifest.CheckPathPattern(p); err != nil {
				errs.add(fmt.Sprintf("%s.protected_paths[%d]", where, k), "%v", err)
			}
		}
		if r.MaxPushBytes < 0 {
			errs.add(where+".max_push_bytes", "%d is negative; 0 means unlimited", r.MaxPushBytes)
		}
	}
}

// checkURL checks the parts of r's upstream and that they agree with its
// URL, so that the gate cannot be told one thing and shown another.
func (r *Repo) checkURL(where string, errs *errorList) {
	if !sshUserRE.MatchString(r.User) {
		errs.add(where+".user", "%q is not an SSH user name", r.User)
	}
	if err := checkRepoHost(r.Host); err != nil {
		errs.add(where+".host", "%v", err)
	}
	if r.Port < 1 || r.Port > 65535 {
		errs.add(where+".port", "%d is not a port from 1 to 65535", r.Port)
	}
	if !strings.HasPrefix(r.Path, "/") || hasControl(r.Path) || strings.Contains(r.Path, "\\") || hasDotSegment(r.Path) {
		errs.add(where+".path", "%q must start with / and hold no . or .. segment, backslash or control character", r.Path)
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Scheme != "ssh" || u.User == nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" {
		errs.add(where+".url", "%q is not ssh://user@host[:port]/path", r.URL)
		return
	}
	_, hasPass := u.User.Password()
	port := 22
	if s := u.Port(); s != "" {
		port, _ = strconv.Atoi(s)
	}
	if hasPass || u.User.Username() != r.User || asciiLower(u.Hostname()) != r.Host || port != r.Port || u.Path != r.Path {
		errs.add(where+".url", "%q disagrees with the repo's user, host, port or path", r.URL)
	}
}

func hasDotSegment(p string) bool {
	for s := range strings.SplitSeq(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// checkRepoHost accepts a DNS name or an IP address: unlike egress routes,
// git upstreams may be addressed by IP.
func checkRepoHost(h string) error {
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return nil
	}
	return checkHost(h)
}

// checkHostKey checks the shape of a pinned key, "TYPE BASE64"; the gate
// parses the key itself.
func checkHostKey(s string) error {
	f := strings.Split(s, " ")
	if len(f) != 2 || f[0] == "" || hasControl(s) {
		return fmt.Errorf("%q is not \"TYPE BASE64\"", s)
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(f[1]); err != nil || f[1] == "" {
		return fmt.Errorf("key data of %q is not base64", f[0])
	}
	return nil
}
