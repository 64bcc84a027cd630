//go:build linux

package native

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend/native/inside"
)

// bottlePath is the agent's PATH in a native bottle: the host's system
// folders, which the bottle shows read-only.
const bottlePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// hostCommand finds a bare command name the way the operator's shell
// would, since a native bottle runs the host's programs, and returns the
// bottle's PATH: the system folders, then the folders of hostPath the
// bottle shows (a CLI installed under /opt, say), so that the agent finds
// what the operator does. A name on the bottle's system PATH stays as it
// is; one found only further along hostPath becomes its absolute path.
// One found only where the bottle does not show it (a home, /tmp, a
// hidden path) is an error that says what to do. A name found nowhere is
// left to fail in the bottle as it would anywhere.
func hostCommand(cmd []string, hostPath string, hidden []string) (out []string, path string, err error) {
	path = bottlePath
	for _, dir := range filepath.SplitList(hostPath) {
		if filepath.IsAbs(dir) && unseen(dir, hidden) == "" && !slices.Contains(filepath.SplitList(path), filepath.Clean(dir)) {
			path += ":" + filepath.Clean(dir)
		}
	}
	if len(cmd) == 0 || cmd[0] == "" || strings.Contains(cmd[0], "/") {
		return cmd, path, nil
	}
	name := cmd[0]
	for _, dir := range filepath.SplitList(bottlePath) {
		if isExecutable(filepath.Join(dir, name)) {
			return cmd, path, nil
		}
	}
	for _, dir := range filepath.SplitList(hostPath) {
		if !filepath.IsAbs(dir) {
			continue // a relative PATH entry means nothing in the bottle
		}
		p := filepath.Join(dir, name)
		if !isExecutable(p) {
			continue
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		if where := unseen(dir, hidden); where != "" {
			return nil, "", fmt.Errorf("%s is %s, in %s, which a native bottle does not show (homes, /tmp and the bot-bottle home are its own): install it outside your home (for an npm CLI, npm install -g as root), or start with --backend docker", name, p, where)
		}
		if where := unseen(target, hidden); where != "" {
			return nil, "", fmt.Errorf("%s is %s, a link to %s in %s, which a native bottle does not show: install it outside your home (for an npm CLI, npm install -g as root), or start with --backend docker", name, p, target, where)
		}
		out = append([]string{p}, cmd[1:]...)
		return out, path, nil
	}
	return cmd, path, nil
}

// unseen returns the folder that keeps p out of a native bottle: a fresh
// top-level folder or one of hidden; "" when the bottle shows p.
func unseen(p string, hidden []string) string {
	p = filepath.Clean(p)
	top, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if inside.IsFresh(top) {
		return "/" + top
	}
	for _, h := range hidden {
		h = filepath.Clean(h)
		if p == h || strings.HasPrefix(p, h+"/") {
			return h
		}
	}
	return ""
}

// isExecutable reports whether p is a regular file someone may execute.
func isExecutable(p string) bool {
	fi, err := os.Stat(p) //nolint:gosec // G703: the operator's PATH, read to run what the operator would
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
