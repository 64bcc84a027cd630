package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ParseBottle decodes a bottle manifest. name is the bottle's name (the file
// stem) and file the path used in positions. Problems are added to ds; the
// returned bottle is usable only when ds holds no errors.
func ParseBottle(name, file string, data []byte, ds *Diagnostics) *Bottle {
	b := &Bottle{Name: name, File: file}
	doc, ok := split(file, data, ds)
	if !ok {
		return b
	}
	b.Doc = doc.body
	r := &reader{file: file, lineOff: doc.yamlLine - 1, ds: ds}
	if top := r.parse(doc.yaml); top != nil {
		r.decodeBottle(top, b)
	}
	return b
}

// ParseAgent decodes an agent manifest; see ParseBottle.
func ParseAgent(name, file string, data []byte, ds *Diagnostics) *Agent {
	a := &Agent{Name: name, File: file}
	doc, ok := split(file, data, ds)
	if !ok {
		return a
	}
	a.Prompt = doc.body
	r := &reader{file: file, lineOff: doc.yamlLine - 1, ds: ds}
	if top := r.parse(doc.yaml); top != nil {
		r.decodeAgent(top, a)
	}
	return a
}

// readFile reads a manifest, refusing anything but a regular file of
// bounded size.
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes, over the %d-byte limit for a manifest", path, fi.Size(), MaxFileSize)
	}
	return os.ReadFile(path)
}

// stem returns a manifest file's name without directory and .md suffix.
func stem(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".md")
}
