package docker

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// entry is one file or folder of a tar stream sent to the daemon.
type entry struct {
	Name     string // absolute or relative slash path
	Mode     int64
	UID, GID int
	Data     []byte
	Dir      bool
	Link     string // symbolic link target
}

// tarball renders entries as a tar stream. Missing parent folders strictly
// below one of owned are added with the owner of the first entry below
// them, so that files provisioned into a home belong to its user; the
// daemon creates other missing parents as root, and existing folders
// outside owned are never listed, so their owner and mode stay as they are.
func tarball(entries []entry, owned ...string) (*bytes.Buffer, error) {
	seen := map[string]bool{}
	var all []entry
	below := func(dir string) bool {
		for _, o := range owned {
			o = strings.TrimPrefix(path.Clean("/"+o), "/")
			if o != "" && strings.HasPrefix(dir, o+"/") {
				return true
			}
		}
		return false
	}
	for _, e := range entries {
		name := strings.TrimPrefix(path.Clean("/"+e.Name), "/")
		for dir := path.Dir(name); dir != "." && dir != "/" && below(dir); dir = path.Dir(dir) {
			if !seen[dir] {
				seen[dir] = true
				all = append(all, entry{Name: dir, Mode: 0o755, UID: e.UID, GID: e.GID, Dir: true})
			}
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		e.Name = name
		all = append(all, e)
	}
	// Parents before children.
	sort.SliceStable(all, func(i, j int) bool {
		return strings.Count(all[i].Name, "/") < strings.Count(all[j].Name, "/")
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, e := range all {
		h := &tar.Header{Name: e.Name, Mode: e.Mode, Uid: e.UID, Gid: e.GID, ModTime: now, Format: tar.FormatPAX}
		switch {
		case e.Dir:
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case e.Link != "":
			h.Typeflag = tar.TypeSymlink
			h.Linkname = e.Link
		default:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing %s to a tar stream: %w", e.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// readTarFile returns the content of the first regular file in a tar
// stream, as CopyFromContainer returns for a single file.
func readTarFile(r io.Reader) ([]byte, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(io.LimitReader(tr, 16<<20))
		}
	}
}
