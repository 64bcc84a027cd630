package launch

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
	"github.com/bot-bottle/bot-bottle/internal/provider"
)

// provided is what the provider contributes to a Spec.
type provided struct {
	image   backend.Image
	user    backend.User
	env     []backend.EnvVar
	files   []backend.File
	command []string
}

// provide asks the bottle's provider template for the image recipe, the
// agent user, the provisioned files and the command line.
func provide(res *manifest.Resolved, o Options) (*provided, error) {
	b := res.Bottle
	var dockerfile string
	if p := b.Provider.Dockerfile; p.Set && p.V != "" {
		path := p.V
		if !filepath.IsAbs(path) && b.Provider.Dockerfile.At.File != "" {
			path = filepath.Join(filepath.Dir(b.Provider.Dockerfile.At.File), path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading agent_provider.dockerfile (%s): %w", p.At, err)
		}
		dockerfile = string(data)
	}
	template := b.Provider.Template.Or(manifest.DefaultTemplate)
	img, err := provider.Recipe(template, dockerfile, o.BaseImage)
	if err != nil {
		return nil, err
	}
	var skills []fs.FS
	for _, dir := range o.SkillDirs {
		if root, err := os.OpenRoot(dir); err == nil {
			skills = append(skills, root.FS())
		}
	}
	plan, err := provider.Provision(res, provider.Options{
		SkillDirs: skills,
		LookupEnv: o.LookupEnv,
		Prompt:    o.Prompt,
	})
	if err != nil {
		return nil, err
	}
	cmd := plan.Command()
	if len(o.Command) > 0 {
		cmd = o.Command
	}
	return &provided{image: img, user: plan.User, env: plan.Env, files: plan.Files, command: cmd}, nil
}
