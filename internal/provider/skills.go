package provider

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// maxSkillBytes bounds one skill's files: skills are instructions and
// small scripts, and everything provisioned is held in memory.
const maxSkillBytes = 32 << 20

// copySkills returns the files of each named skill, found in the first of
// dirs that holds <name>/SKILL.md, placed under dest/<name>/. Regular files
// keep an executable bit; links and other special files are refused, so
// that a skill cannot pull in a file from outside its folder.
func copySkills(dirs []fs.FS, names []string, dest string) ([]backend.File, error) {
	var out []backend.File
	for _, name := range names {
		if !fs.ValidPath(name) || path.Base(name) != name || name == "." {
			return nil, fmt.Errorf("skill %q: not a folder name", name)
		}
		fsys := findSkill(dirs, name)
		if fsys == nil {
			return nil, fmt.Errorf("skill %q: no %s/SKILL.md in any skills folder", name, name)
		}
		files, err := readSkill(fsys, name, path.Join(dest, name))
		if err != nil {
			return nil, fmt.Errorf("skill %q: %w", name, err)
		}
		out = append(out, files...)
	}
	return out, nil
}

func findSkill(dirs []fs.FS, name string) fs.FS {
	for _, d := range dirs {
		if fi, err := fs.Stat(d, path.Join(name, "SKILL.md")); err == nil && fi.Mode().IsRegular() {
			return d
		}
	}
	return nil
}

func readSkill(fsys fs.FS, name, dest string) ([]backend.File, error) {
	var out []backend.File
	var total int64
	err := fs.WalkDir(fsys, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (links are not copied)", p)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if total += fi.Size(); total > maxSkillBytes {
			return errors.New("larger than 32 MiB")
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if fi.Mode().Perm()&0o111 != 0 {
			mode = 0o755
		}
		rel := p[len(name):] // "/sub/file"
		out = append(out, backend.File{Path: dest + rel, Mode: mode, Data: data})
		return nil
	})
	return out, err
}
