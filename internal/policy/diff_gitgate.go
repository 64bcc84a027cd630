package policy

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

func (d *Changes) gitGate(old, next *GitGate) {
	if old == nil {
		old = &GitGate{}
	}
	if next == nil {
		next = &GitGate{}
	}
	if ou, nu := userString(old.User), userString(next.User); ou != nu {
		d.add(Other, "git user: %s instead of %s", nu, ou)
	}
	find := func(rs []Repo, name string) *Repo {
		if i := slices.IndexFunc(rs, func(r Repo) bool { return r.Name == name }); i >= 0 {
			return &rs[i]
		}
		return nil
	}
	for i := range next.Repos {
		n := &next.Repos[i]
		if o := find(old.Repos, n.Name); o != nil {
			d.repo(o, n)
			continue
		}
		d.add(Grant, "git repo %s: %s, key from %s", n.Name, n.URL, n.Key.Provider)
		for _, g := range n.grants() {
			d.add(Grant, "git repo %s: %s", n.Name, g)
		}
		d.add(Grant, "git repo %s: %s", n.Name, n.limits())
	}
	for i := range old.Repos {
		if o := &old.Repos[i]; find(next.Repos, o.Name) == nil {
			d.add(Revoke, "git repo %s: %s", o.Name, o.URL)
		}
	}
}

// repo compares two repos of one name.
func (d *Changes) repo(o, n *Repo) {
	where := "git repo " + n.Name + ": "
	if o.URL != n.URL {
		d.add(Revoke, "%s%s", where, o.URL)
		d.add(Grant, "%s%s", where, n.URL)
	}
	if o.Key.Provider != n.Key.Provider {
		d.add(Other, "%skey from %s instead of %s", where, n.Key.Provider, o.Key.Provider)
	}
	d.setDiff(o.grants(), n.grants(), Revoke, Grant, where+"%s")
	d.setDiff(o.ProtectedPaths, n.ProtectedPaths, Grant, Revoke, where+"protected path %s")
	if o.MaxPushBytes != n.MaxPushBytes {
		op := Revoke
		if n.MaxPushBytes == 0 || o.MaxPushBytes != 0 && n.MaxPushBytes > o.MaxPushBytes {
			op = Grant
		}
		d.add(op, "%smax push %s instead of %s", where, pushSize(n.MaxPushBytes), pushSize(o.MaxPushBytes))
	}
}

// grants lists what a repo lets the agent do: push to which branches, and
// whether pushes reach the upstream.
func (r *Repo) grants() []string {
	var out []string
	if r.HostKey != "" {
		out = append(out, "pushes forwarded to the upstream, host key "+keyFingerprint(r.HostKey))
	}
	if r.Branches == nil {
		out = append(out, "push to every branch but the default")
	}
	for _, b := range r.Branches {
		out = append(out, "push to branch "+b)
	}
	return out
}

// limits describes a new repo's protected paths and push size.
func (r *Repo) limits() string {
	return fmt.Sprintf("protected paths %q, max push %s", r.ProtectedPaths, pushSize(r.MaxPushBytes))
}

func pushSize(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d bytes", n)
}

func userString(u *GitUser) string {
	if u == nil {
		return "none"
	}
	return fmt.Sprintf("%q <%s>", u.Name, u.Email)
}

// keyFingerprint shows a pinned host key as ssh-keygen -l does: its type
// and SHA256 fingerprint.
func keyFingerprint(k string) string {
	typ, data, _ := strings.Cut(k, " ")
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return typ + " (unreadable)"
	}
	sum := sha256.Sum256(raw)
	return typ + " SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}
