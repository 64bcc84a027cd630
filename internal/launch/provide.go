package launch

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/gitgate"
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
	img = provider.WithBuildCA(img, o.BuildCA)
	if img, err = provider.WithCLIVersion(img, template, b.Provider.CLIVersion.V); err != nil {
		return nil, err
	}
	var skills []fs.FS
	for _, dir := range o.SkillDirs {
		if root, err := os.OpenRoot(dir); err == nil {
			skills = append(skills, root.FS())
		}
	}
	plan, err := provider.Provision(res, provider.Options{
		SkillDirs:      skills,
		LookupEnv:      o.LookupEnv,
		Prompt:         o.Prompt,
		GitRewrites:    gitRewrites(b),
		Headless:       o.HeadlessPrompt != "",
		HeadlessPrompt: o.HeadlessPrompt,
		Label:          o.Label,
		Continue:       o.Continue && o.KeepHome,
	})
	if err != nil {
		return nil, err
	}
	cmd := plan.Command()
	if len(o.Command) > 0 {
		cmd = o.Command
	}
	user := plan.User
	if b.Workspace.Mode.Or(manifest.DefaultWorkspaceMode) == manifest.WorkspaceMount {
		img, user = MatchHostUser(img, user, o.HostUID, o.HostGID)
	}
	return &provided{image: img, user: user, env: plan.Env, files: plan.Files, command: cmd}, nil
}

// MatchHostUser gives the agent user the host user's ids, so that what the
// agent writes in a mounted workspace belongs to the operator and the
// operator's tree is writable to the agent. Root on the host keeps the
// image's user: the agent never runs as root.
func MatchHostUser(img backend.Image, u backend.User, uid, gid int) (backend.Image, backend.User) {
	if uid <= 0 || gid < 0 || (uid == u.UID && gid == u.GID) {
		return img, u
	}
	img.Dockerfile += fmt.Sprintf(`
# The agent user takes the host user's ids for a mounted workspace.
ARG AGENT_UID
ARG AGENT_GID
RUN groupmod -o -g "${AGENT_GID}" %[1]s && usermod -o -u "${AGENT_UID}" -g "${AGENT_GID}" %[1]s && chown -R "${AGENT_UID}:${AGENT_GID}" %[2]s /workspace
`, u.Name, u.Home)
	args := make(map[string]string, len(img.BuildArgs)+2)
	maps.Copy(args, img.BuildArgs)
	args["AGENT_UID"], args["AGENT_GID"] = strconv.Itoa(uid), strconv.Itoa(gid)
	img.BuildArgs = args
	u.UID, u.GID = uid, gid
	return img, u
}

// gitRewrites sends each declared upstream to the git gate, under the URL
// written in the manifest and, for the default port, the scp-like form
// (git@host:owner/repo.git) clones are usually made with.
func gitRewrites(b *manifest.Bottle) []provider.GitRewrite {
	var out []provider.GitRewrite
	for _, r := range b.GitGate.Repos {
		u := r.URL.V
		base := gitgate.URL(r.Name)
		out = append(out, provider.GitRewrite{Base: base, InsteadOf: u.Raw})
		if u.Port == 22 {
			out = append(out, provider.GitRewrite{Base: base, InsteadOf: u.User + "@" + u.Host + ":" + strings.TrimPrefix(u.Path, "/")})
		}
	}
	return out
}
