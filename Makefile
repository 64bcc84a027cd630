# bot-bottle developer tasks. `make` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse --short=7 HEAD 2>/dev/null)
# The commit goes in by -X too: go's own VCS stamping is off where
# GOFLAGS=-buildvcs=false, and fails where git refuses the checkout.
LDFLAGS := -s -w \
	-X github.com/bot-bottle/bot-bottle/internal/buildinfo.version=$(VERSION) \
	-X github.com/bot-bottle/bot-bottle/internal/buildinfo.commit=$(COMMIT)
FUZZTIME ?= 60s
GOLANGCI_VERSION := v2.15.0
GOLANGCI_LINT := $(shell $(GO) env GOPATH)/bin/golangci-lint

.PHONY: help build test lint fuzz tidy-check check tools bench-egress cross

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build the static binary ./bin/bot-bottle, stamped with VERSION and COMMIT
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/bot-bottle ./cmd/bot-bottle

test: ## run every test with the race detector
	$(GO) test -race -count=1 ./...

# CROSS are the platforms the binary is built, vetted and its tests compiled
# for besides this machine's (their tests cannot run here).
CROSS ?= linux/amd64 linux/arm64 darwin/arm64

cross: ## build the static binary, vet, and compile every test for each of CROSS
	@set -e; for p in $(CROSS); do \
		echo "== $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build -trimpath -o /dev/null ./cmd/bot-bottle; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./...; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) test -count=1 -exec /bin/true ./... >/dev/null; \
	done

# ARM64_SKIP are the packages whose tests need this machine's kernel or
# daemon itself (Docker, namespaces, seccomp, Landlock, the CLI's bottles),
# which qemu-user cannot give an emulated test binary.
ARM64_SKIP = internal/backend/(docker|native)|internal/cli$$|internal/sandbox|internal/testinfra|cmd/bot-bottle

test-arm64: ## run the other packages' tests for linux/arm64 under qemu-user (qemu-user-static)
	GOARCH=arm64 $(GO) test -count=1 -exec qemu-aarch64-static $$($(GO) list ./... | grep -v -E '$(ARM64_SKIP)')

lint: tools ## run golangci-lint (linters and formatters)
	$(GOLANGCI_LINT) run ./...

fuzz: ## run each fuzz target for FUZZTIME (default 60s)
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

tidy-check: ## fail when go.mod or go.sum are not tidy
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

check: lint test tidy-check ## lint, test and tidy-check: what CI checks, but fuzzing

tools: ## install the pinned golangci-lint into GOPATH/bin if missing
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -qF ' $(GOLANGCI_VERSION:v%=%) ' || \
		{ echo "installing golangci-lint $(GOLANGCI_VERSION) (a few minutes)"; \
		  $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION); }
bench-egress: build ## benchmark egress serve vs direct, a bare Go MITM and mitmdump on loopback (manual, ~4 min; BENCH_FLAGS=...)
	command -v mitmdump >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mitmproxy; }; $(GO) run ./bench/egress -bin ./bin/bot-bottle $(BENCH_FLAGS)
