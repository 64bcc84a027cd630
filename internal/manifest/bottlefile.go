package manifest

import (
	"path/filepath"
	"strings"
)

// ResolveBottleFile reads the bottle manifest at path, which need not be
// in the index, and resolves it as start resolves a bottle by name: its
// extends chain comes from the index's bottles, and the result is checked
// as Resolve checks a bottle to run in. The bottle is named after the
// file's stem. It is usable only when the diagnostics hold no error.
//
// A file that is not a bottle manifest (an agent, say, or no manifest at
// all) is an error that says so.
func (ix *Index) ResolveBottleFile(path string) (*Bottle, Diagnostics) {
	var ds Diagnostics
	at := Pos{File: path}
	name := stem(path)
	if filepath.Ext(path) != ".md" || !ValidName(name) {
		ds.errorf(at, "not a bottle manifest: a bottle is a file NAME.md, NAME lowercase letters, digits and -, starting with a letter")
		return nil, ds
	}
	data, err := readFile(path)
	if err != nil {
		ds.errorf(at, "reading bottle: %v", err)
		return nil, ds
	}
	var pds Diagnostics
	own := ParseBottle(name, path, data, &pds)
	if pds.HasErrors() {
		var ads Diagnostics
		if a := ParseAgent(name, path, data, &ads); !ads.HasErrors() && (a.Bottle.Set || len(a.Skills) > 0 || a.Prompt != "") {
			ds.errorf(Pos{File: path, Line: 1, Col: 1}, "an agent manifest, not a bottle: pass the bottle file it runs in (bottle: %s, in %s)", orNone(a.Bottle.V), BottlesDir(ix.cfg.Home))
			return nil, ds
		}
		return nil, append(ds, pds...).Sort()
	}
	ds = append(ds, pds...)
	ix.checkHostVars(own, &ds)
	b, ok := ix.fold(own, !ds.HasErrors(), nil, &ds)
	if !ok || ds.HasErrors() {
		return nil, ds.Sort()
	}
	b.Extends = nil
	ix.checkBottle(b, &ds)
	return b, ds.Sort()
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return s
}
