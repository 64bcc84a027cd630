# bot-bottle developer tasks. `make` lists them.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X github.com/bot-bottle/bot-bottle/internal/buildinfo.version=$(VERSION)
FUZZTIME ?= 60s
GOLANGCI_VERSION := v2.15.0
GOBIN := $(shell $(GO) env GOPATH)/bin

.PHONY: help build test lint fuzz check tools tidy-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build the static binary into ./bin/bot-bottle
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/bot-bottle ./cmd/bot-bottle

test: ## run every test with the race detector
	$(GO) test -race -count=1 ./...

lint: ## run golangci-lint (make tools installs it)
	$(GOBIN)/golangci-lint run ./...

fuzz: ## run each fuzz target for FUZZTIME (default 60s)
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

tidy-check: ## fail when go.mod or go.sum are not tidy
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

check: lint test tidy-check ## everything CI checks, but fuzzing

tools: ## install golangci-lint (pinned)
	@test -x $(GOBIN)/golangci-lint && $(GOBIN)/golangci-lint version 2>/dev/null | grep -q '$(GOLANGCI_VERSION:v%=%)' || \
		$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
