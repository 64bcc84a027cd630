package provider

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// DefaultBaseImage is the public image the templates build on when the
// caller names no other (BOT_BOTTLE_BASE_IMAGE, read by the caller).
const DefaultBaseImage = "debian:bookworm-slim"

// ImagePrefix starts the name of every agent image: the name is
// ImagePrefix + template, and the tag is the recipe's ContentHash.
const ImagePrefix = "bot-bottle-agent-"

// Build arguments and the stage name used when a bottle's own dockerfile
// extends a template (see Recipe).
const (
	// ArgBaseImage is the build argument every template and every bottle
	// dockerfile takes its base image from.
	ArgBaseImage = "BASE_IMAGE"
	// ArgTemplateBase carries the real base image into the template stage
	// of a combined recipe, where BASE_IMAGE names the template stage.
	ArgTemplateBase = "BOT_BOTTLE_BASE_IMAGE"
	// TemplateStage is the template's stage name in a combined recipe.
	TemplateStage = "bot-bottle-template"
)

//go:embed templates/*.Dockerfile
var templates embed.FS

// templateHeader is how every template starts. Recipe relies on it to
// turn a template into the first stage of a combined recipe.
const templateHeader = "ARG BASE_IMAGE=" + DefaultBaseImage + "\nFROM ${BASE_IMAGE}\n"

// BuildCAFile is the build context's file of CAs the templates' npm
// steps trust (see WithBuildCA); empty, they trust the image's alone.
const BuildCAFile = "build-ca.pem"

// WithBuildCA is img whose build trusts the PEM certificates pem as well:
// behind a TLS-intercepting proxy, npm in the build needs its CA. They are
// part of the image's content, so of its tag.
func WithBuildCA(img backend.Image, pem []byte) backend.Image {
	ctx := maps.Clone(img.Context)
	if ctx == nil {
		ctx = map[string][]byte{}
	}
	ctx[BuildCAFile] = pem
	img.Context = ctx
	return img
}

// cliVersionArgs are the build arguments that pin each template's agent
// CLI; the templates' defaults are the versions bot-bottle is verified
// with.
var cliVersionArgs = map[string]string{
	manifest.TemplateClaude: "CLAUDE_CODE_VERSION",
	manifest.TemplateCodex:  "CODEX_VERSION",
	manifest.TemplatePi:     "PI_VERSION",
}

// WithCLIVersion is img built with the template's agent CLI at version
// (agent_provider.cli_version); "" keeps the template's default. It is a
// build argument, so part of the image's tag.
func WithCLIVersion(img backend.Image, template, version string) (backend.Image, error) {
	if version == "" {
		return img, nil
	}
	arg, ok := cliVersionArgs[template]
	if !ok {
		return img, fmt.Errorf("the %s template has no agent CLI to pin", template)
	}
	args := maps.Clone(img.BuildArgs)
	if args == nil {
		args = map[string]string{}
	}
	args[arg] = version
	img.BuildArgs = args
	return img, nil
}

// Template returns the text of a built-in Dockerfile template.
func Template(name string) (string, error) {
	if !slices.Contains(manifest.Templates, name) {
		return "", fmt.Errorf("unknown provider template %q; known: %s", name, strings.Join(manifest.Templates, ", "))
	}
	b, err := templates.ReadFile("templates/" + name + ".Dockerfile")
	if err != nil {
		return "", fmt.Errorf("reading provider template %q: %w", name, err)
	}
	return string(b), nil
}

// Recipe returns the agent image recipe for a provider template, built
// with the classic builder in one build. baseImage is the image the
// template builds on; "" means DefaultBaseImage. The result's BuildArgs are
// complete: callers add nothing to them.
//
// dockerfile is the text (not the path) of the bottle's own
// agent_provider.dockerfile, or "" for none; the caller reads the file.
// When its FROM instructions name BASE_IMAGE ("FROM ${BASE_IMAGE}"), it
// extends the template: Recipe returns one multi-stage Dockerfile whose
// first stage, TemplateStage, is the template built on baseImage, and
// whose later stages are the bottle's text, with the BASE_IMAGE build
// argument set to TemplateStage so that its FROM starts from the
// template. The lines before its first FROM (its global ARGs) move to the
// top, where global ARGs must be. A dockerfile whose FROM does not name
// BASE_IMAGE replaces the template outright, as in the original tool; it
// must then provide the agent user and the tools itself. A dockerfile with
// an escape parser directive is refused, since the template could not be
// parsed under it.
func Recipe(template, dockerfile, baseImage string) (backend.Image, error) {
	text, err := Template(template)
	if err != nil {
		return backend.Image{}, err
	}
	if baseImage == "" {
		baseImage = DefaultBaseImage
	}
	img := backend.Image{Name: ImagePrefix + template, Dockerfile: text, BuildArgs: map[string]string{ArgBaseImage: baseImage},
		Context: map[string][]byte{BuildCAFile: nil}}
	if strings.TrimSpace(dockerfile) == "" {
		return img, nil
	}
	if escapeDirective.MatchString(dockerfile) {
		return backend.Image{}, fmt.Errorf("agent_provider.dockerfile: the escape parser directive is not supported")
	}
	ins := instructions(dockerfile)
	first := slices.IndexFunc(ins, func(in instruction) bool { return in.keyword == "FROM" })
	if first < 0 {
		return backend.Image{}, fmt.Errorf("agent_provider.dockerfile: no FROM instruction")
	}
	if !slices.ContainsFunc(ins, namesBaseImage) {
		img.Dockerfile = dockerfile
		return img, nil
	}
	body, ok := strings.CutPrefix(text, templateHeader)
	if !ok {
		return backend.Image{}, fmt.Errorf("provider template %q does not start with its BASE_IMAGE header", template)
	}
	lines := strings.SplitAfter(dockerfile, "\n")
	preamble := strings.Join(lines[:ins[first].line], "")
	rest := strings.Join(lines[ins[first].line:], "")
	var b strings.Builder
	fmt.Fprintf(&b, "# The %s template, then the bottle's dockerfile built on it.\n", template)
	fmt.Fprintf(&b, "ARG %s=%s\nARG %s=%s\n", ArgTemplateBase, DefaultBaseImage, ArgBaseImage, TemplateStage)
	b.WriteString(ensureNewline(preamble))
	fmt.Fprintf(&b, "FROM ${%s} AS %s\n", ArgTemplateBase, TemplateStage)
	b.WriteString(ensureNewline(body))
	b.WriteString(ensureNewline(rest))
	img.Dockerfile = b.String()
	img.BuildArgs = map[string]string{ArgTemplateBase: baseImage, ArgBaseImage: TemplateStage}
	return img, nil
}

// escapeDirective matches an escape parser directive at the top of a
// Dockerfile, after other directives.
var escapeDirective = regexp.MustCompile(`\A(?:#[ \t]*[A-Za-z]+[ \t]*=[^\n]*\n)*#[ \t]*(?i:escape)[ \t]*=`)

// instruction is one logical Dockerfile instruction.
type instruction struct {
	keyword string // upper case
	text    string // continuation lines joined
	line    int    // 0-based index of its first physical line
}

// instructions splits a Dockerfile (default escape character) into its
// logical instructions, skipping comments and blank lines.
func instructions(text string) []instruction {
	var out []instruction
	var cur *instruction
	for i, raw := range strings.Split(text, "\n") {
		t := strings.TrimSpace(raw)
		if cur == nil && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if cur != nil && strings.HasPrefix(t, "#") {
			continue // comment lines inside a continuation are dropped
		}
		if cur == nil {
			kw, _, _ := strings.Cut(t, " ")
			kw, _, _ = strings.Cut(kw, "\t")
			out = append(out, instruction{keyword: strings.ToUpper(kw), line: i})
			cur = &out[len(out)-1]
		}
		if s, ok := strings.CutSuffix(t, `\`); ok {
			cur.text += s + " "
			continue
		}
		cur.text += t
		cur = nil
	}
	return out
}

// namesBaseImage reports whether in is a FROM that takes BASE_IMAGE.
func namesBaseImage(in instruction) bool {
	return in.keyword == "FROM" && (strings.Contains(in.text, "${"+ArgBaseImage) || strings.Contains(in.text, "$"+ArgBaseImage))
}

func ensureNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// ContentHash is the digest of everything that goes into building img: the
// Dockerfile, the build arguments and the context files, each in sorted
// order, as 16 hex digits. It is the image's tag, so images are cached by
// content; it agrees with the docker backend's tag for the same recipe.
func ContentHash(img backend.Image) string {
	h := sha256.New()
	write := func(s string) { _, _ = fmt.Fprintf(h, "%d:%s", len(s), s) }
	write(img.Dockerfile)
	for _, k := range slices.Sorted(maps.Keys(img.BuildArgs)) {
		write(k)
		write(img.BuildArgs[k])
	}
	for _, k := range slices.Sorted(maps.Keys(img.Context)) {
		write(k)
		write(string(img.Context[k]))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Tag is img's full reference: its name and its ContentHash.
func Tag(img backend.Image) string { return img.Name + ":" + ContentHash(img) }
