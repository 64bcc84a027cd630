package provider

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got; -update rewrites):\n%s", p, diff)
	}
}

// buildKitOnly matches Dockerfile syntax the classic builder rejects or
// misreads: RUN --mount/--network/--security, COPY/ADD --chmod/--link/
// --parents/--exclude, heredocs and a syntax directive.
var buildKitOnly = regexp.MustCompile(`(?m)--mount=|--network=|--security=|--chmod=|--link\b|--parents\b|--exclude=|<<-?\s*["']?[A-Z]+|^#\s*syntax=`)

func TestTemplates(t *testing.T) {
	common := []string{"ca-certificates", "git", "curl", "bash", "less", "procps"}
	extra := map[string][]string{
		manifest.TemplateShell:  {"dnsutils", "netcat-openbsd", "iputils-ping", "openssh-client", "jq"},
		manifest.TemplateClaude: {"nodejs", "npm", "npm install -g", "@anthropic-ai/claude-code@"},
		manifest.TemplateCodex:  {"nodejs", "npm", "npm install -g", "@openai/codex@"},
		manifest.TemplatePi:     {"nodejs", "npm", "npm install -g", "@mariozechner/pi-coding-agent@"},
	}
	for _, name := range manifest.Templates {
		t.Run(name, func(t *testing.T) {
			text, err := Template(name)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(text, "\n")
			if lines[0] != "ARG BASE_IMAGE=debian:bookworm-slim" || lines[1] != "FROM ${BASE_IMAGE}" {
				t.Errorf("template starts %q, %q; want the ARG BASE_IMAGE and FROM ${BASE_IMAGE} header", lines[0], lines[1])
			}
			ins := instructions(text)
			var froms, users int
			for _, in := range ins {
				switch in.keyword {
				case "FROM":
					froms++
				case "USER":
					users++
				}
			}
			if froms != 1 || users != 0 {
				t.Errorf("template has %d FROM and %d USER instructions, want 1 and 0", froms, users)
			}
			for _, want := range append([]string{
				"groupadd --gid 1000 agent",
				"useradd --uid 1000 --gid 1000 --home-dir /home/agent --create-home --shell /bin/bash agent",
				"chown agent:agent /workspace",
				"WORKDIR /workspace",
				"LABEL io.bot-bottle.provider=" + name,
				"apt-get install -y --no-install-recommends",
				"rm -rf /var/lib/apt/lists/*",
			}, append(common, extra[name]...)...) {
				if !strings.Contains(text, want) {
					t.Errorf("template lacks %q", want)
				}
			}
			if m := buildKitOnly.FindString(text); m != "" {
				t.Errorf("template uses BuildKit-only syntax %q", m)
			}
			// The build's CAs alone come in: per-bottle content (the
			// sidecar's CA among it) is provisioned at start.
			rest := strings.ReplaceAll(text, "COPY "+BuildCAFile+" /usr/local/share/bot-bottle/build-ca.pem\n", "")
			if strings.Contains(strings.ToLower(rest), "ca.crt") || strings.Contains(rest, "COPY") || strings.Contains(rest, "ADD ") {
				t.Errorf("template copies files in; per-bottle content is provisioned at start")
			}
		})
	}
}

func TestRecipe(t *testing.T) {
	for _, tc := range []struct {
		name, template, base, wantBase string
	}{
		{"default-base", manifest.TemplateClaude, "", DefaultBaseImage},
		{"own-base", manifest.TemplateShell, "bot-bottle-test-base:bookworm", "bot-bottle-test-base:bookworm"},
		{"codex", manifest.TemplateCodex, "", DefaultBaseImage},
		{"pi", manifest.TemplatePi, "registry.example/debian:12", "registry.example/debian:12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Recipe(tc.template, "", tc.base)
			if err != nil {
				t.Fatal(err)
			}
			text, _ := Template(tc.template)
			want := backend.Image{Name: "bot-bottle-agent-" + tc.template, Dockerfile: text, BuildArgs: map[string]string{"BASE_IMAGE": tc.wantBase}, Context: map[string][]byte{BuildCAFile: nil}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Recipe(%q, \"\", %q) mismatch (-want +got):\n%s", tc.template, tc.base, diff)
			}
		})
	}
}

func TestRecipeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, template, dockerfile, want string
	}{
		{"unknown-template", "aider", "", `unknown provider template "aider"; known: claude, codex, pi, shell`},
		{"no-from", "claude", "# only a comment\nRUN true\n", "no FROM instruction"},
		{"escape-directive", "claude", "# escape=`\nFROM ${BASE_IMAGE}\n", "escape parser directive"},
		{"escape-after-syntax", "claude", "# syntax=docker/dockerfile:1\n#escape=`\nFROM ${BASE_IMAGE}\n", "escape parser directive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Recipe(tc.template, tc.dockerfile, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Recipe(%q, %q) error = %v, want one containing %q", tc.template, tc.dockerfile, err, tc.want)
			}
		})
	}
}

func TestRecipeOverride(t *testing.T) {
	const extends = `# A bottle's own image: the claude template plus a toolchain.
ARG BASE_IMAGE
ARG GO_VERSION=1.26

FROM \
  ${BASE_IMAGE}
USER root
RUN apt-get update && apt-get install -y --no-install-recommends golang && rm -rf /var/lib/apt/lists/*
`
	got, err := Recipe(manifest.TemplateClaude, extends, "bot-bottle-test-base:bookworm")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "recipe/claude-extended.Dockerfile", []byte(got.Dockerfile))
	wantArgs := map[string]string{"BOT_BOTTLE_BASE_IMAGE": "bot-bottle-test-base:bookworm", "BASE_IMAGE": "bot-bottle-template"}
	if diff := cmp.Diff(wantArgs, got.BuildArgs); diff != "" {
		t.Errorf("BuildArgs mismatch (-want +got):\n%s", diff)
	}
	if got.Name != "bot-bottle-agent-claude" {
		t.Errorf("Name = %q, want bot-bottle-agent-claude", got.Name)
	}
	var froms []string
	for _, in := range instructions(got.Dockerfile) {
		if in.keyword == "FROM" {
			froms = append(froms, in.text)
		}
	}
	wantFroms := []string{"FROM ${BOT_BOTTLE_BASE_IMAGE} AS bot-bottle-template", "FROM  ${BASE_IMAGE}"}
	if diff := cmp.Diff(wantFroms, froms); diff != "" {
		t.Errorf("FROM instructions mismatch (-want +got):\n%s", diff)
	}

	const standalone = "FROM node:22-slim\nRUN true\n"
	got, err = Recipe(manifest.TemplatePi, standalone, "")
	if err != nil {
		t.Fatal(err)
	}
	want := backend.Image{Name: "bot-bottle-agent-pi", Dockerfile: standalone, BuildArgs: map[string]string{"BASE_IMAGE": DefaultBaseImage}, Context: map[string][]byte{BuildCAFile: nil}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("standalone dockerfile mismatch (-want +got):\n%s", diff)
	}
}

func TestContentHash(t *testing.T) {
	base := func() backend.Image {
		return backend.Image{
			Name:       "bot-bottle-agent-shell",
			Dockerfile: "FROM x\n",
			BuildArgs:  map[string]string{"BASE_IMAGE": "debian", "A": "1"},
			Context:    map[string][]byte{"f": []byte("data"), "g": nil},
		}
	}
	h := ContentHash(base())
	if len(h) != 16 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("ContentHash = %q, want 16 lower-case hex digits", h)
	}
	if again := ContentHash(base()); again != h {
		t.Errorf("ContentHash is not stable: %q then %q", h, again)
	}
	renamed := base()
	renamed.Name = "other"
	if got := ContentHash(renamed); got != h {
		t.Errorf("ContentHash changed with the name alone: %q, want %q", got, h)
	}
	if got, want := Tag(base()), "bot-bottle-agent-shell:"+h; got != want {
		t.Errorf("Tag = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name   string
		change func(*backend.Image)
	}{
		{"dockerfile", func(i *backend.Image) { i.Dockerfile += "RUN true\n" }},
		{"arg-value", func(i *backend.Image) { i.BuildArgs["BASE_IMAGE"] = "debian:12" }},
		{"arg-added", func(i *backend.Image) { i.BuildArgs["B"] = "" }},
		{"arg-removed", func(i *backend.Image) { delete(i.BuildArgs, "A") }},
		{"arg-split-moved", func(i *backend.Image) { delete(i.BuildArgs, "A"); i.BuildArgs["A1"] = "" }},
		{"context-data", func(i *backend.Image) { i.Context["f"] = []byte("datb") }},
		{"context-renamed", func(i *backend.Image) { i.Context["h"] = i.Context["g"]; delete(i.Context, "g") }},
		{"context-added", func(i *backend.Image) { i.Context["z"] = []byte{} }},
		{"context-to-arg", func(i *backend.Image) { delete(i.Context, "g"); i.BuildArgs["g"] = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := base()
			tc.change(&img)
			if got := ContentHash(img); got == h {
				t.Errorf("ContentHash did not change: %q", got)
			}
		})
	}
}

func TestWithBuildCA(t *testing.T) {
	img, err := Recipe(manifest.TemplateClaude, "", "")
	if err != nil {
		t.Fatal(err)
	}
	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	got := WithBuildCA(img, pem)
	if !bytes.Equal(got.Context[BuildCAFile], pem) {
		t.Fatalf("build context %s = %q, want the CA", BuildCAFile, got.Context[BuildCAFile])
	}
	if img.Context[BuildCAFile] != nil {
		t.Fatal("WithBuildCA changed the recipe it was given")
	}
	if ContentHash(got) == ContentHash(img) {
		t.Fatal("the build CA is not part of the image's content hash")
	}
}

// agent_provider.cli_version reaches the template's own ARG, and is part
// of the tag; the shell template has no CLI to pin.
func TestWithCLIVersion(t *testing.T) {
	for tmpl, arg := range cliVersionArgs {
		img, err := Recipe(tmpl, "", "")
		if err != nil {
			t.Fatal(err)
		}
		text, _ := Template(tmpl)
		if !strings.Contains(text, "ARG "+arg+"=") {
			t.Errorf("the %s template has no ARG %s", tmpl, arg)
		}
		got, err := WithCLIVersion(img, tmpl, "9.9.9")
		if err != nil {
			t.Fatal(err)
		}
		if got.BuildArgs[arg] != "9.9.9" || img.BuildArgs[arg] != "" {
			t.Errorf("%s: build args %v (the recipe given: %v), want %s=9.9.9 on the copy only", tmpl, got.BuildArgs, img.BuildArgs, arg)
		}
		if ContentHash(got) == ContentHash(img) {
			t.Errorf("%s: the CLI version is not part of the image's content hash", tmpl)
		}
		if same, _ := WithCLIVersion(img, tmpl, ""); ContentHash(same) != ContentHash(img) {
			t.Errorf("%s: no version changed the recipe", tmpl)
		}
	}
	if _, err := WithCLIVersion(backend.Image{}, manifest.TemplateShell, "1.0.0"); err == nil {
		t.Error("a CLI version on the shell template was accepted")
	}
}
