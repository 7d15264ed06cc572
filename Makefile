# ocisrc — see README.md. The two commands a newcomer needs:
#   make demo   a local registry + control plane, a Component, a pull through the plugin
#   make test   the whole test suite (lint, unit, integration, end-to-end)
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

VERSION ?= v$(shell sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' plugin.yaml)
LDFLAGS := -X github.com/ocisrc/ocisrc/pkg/version.version=$(VERSION)
GO ?= go

# Test tools, each built once from its pinned module under tools/ and cached
# outside the checkout (tools/build.sh); .tools/ holds links to them.
TOOLS := kube-apiserver kubectl etcd helm3 helm4 krew golangci-lint cosign notation
TOOLS_DIR := $(CURDIR)/.tools
# What the tests find the tools by (internal/testenv).
TEST_ENV := KUBEBUILDER_ASSETS=$(TOOLS_DIR)/envtest \
	$(foreach t,$(TOOLS),OCISRC_TOOL_$(shell echo $(t) | tr a-z- A-Z_)_DIR=$(TOOLS_DIR)/$(t)) \
	OCISRC_TOOL_WINE_DIR=$(TOOLS_DIR)/wine

.PHONY: build
build: ## Build bin/ocisrc (the place plugin.yaml points to)
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ocisrc ./cmd/ocisrc

.PHONY: plugin
plugin: build ## Build both Helm plugins in place; then: SKIP_BIN_INSTALL=1 helm plugin install . (and ./plugin/downloader)
	mkdir -p plugin/downloader/bin
	cp bin/ocisrc plugin/downloader/bin/ocisrc
	cp plugin/install-binary.sh plugin/install-binary.ps1 plugin/downloader/

PLATFORMS ?= linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64

.PHONY: dist
dist: ## Cross-build the release: archives, Helm plugin archives, checksums.txt and the krew manifest in dist/
	$(GO) run ./cmd/internal/dist --out dist --platforms "$(PLATFORMS)"

.PHONY: tools
tools: control-plane ## Build (once) and link the pinned test tools, and Wine for the Windows test (tools/wine.sh)
	@for t in $(TOOLS); do \
		d=$$(tools/build.sh $$t); ln -sfn "$$d" $(TOOLS_DIR)/$$t; \
	done
	@d=$$(tools/wine.sh); ln -sfn "$$d" $(TOOLS_DIR)/wine

# The demo needs only the control plane and kubectl: a newcomer's first
# command builds nothing else.
.PHONY: control-plane
control-plane:
	@mkdir -p $(TOOLS_DIR)/envtest
	@for t in kube-apiserver etcd kubectl; do \
		d=$$(tools/build.sh $$t); ln -sfn "$$d" $(TOOLS_DIR)/$$t; \
	done
	@ln -sfn $(TOOLS_DIR)/kube-apiserver/kube-apiserver $(TOOLS_DIR)/envtest/kube-apiserver
	@ln -sfn $(TOOLS_DIR)/etcd/etcd $(TOOLS_DIR)/envtest/etcd

.PHONY: lint
lint: tools ## gofmt, go vet, golangci-lint, go.mod tidiness, and no compiled binaries in git
	tools/check-no-binaries.sh
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS_DIR)/golangci-lint/golangci-lint run ./...
	@cp go.mod .tools/go.mod.orig; cp go.sum .tools/go.sum.orig; \
	$(GO) mod tidy; \
	if ! diff -u .tools/go.mod.orig go.mod || ! diff -u .tools/go.sum.orig go.sum; then \
		cp .tools/go.mod.orig go.mod; cp .tools/go.sum.orig go.sum; \
		echo "go.mod is not tidy: run go mod tidy"; exit 1; fi

.PHONY: test
test: lint ## The whole suite: lint, unit, integration and end-to-end tests
	$(TEST_ENV) $(GO) test -count=1 -timeout 30m -json ./... | $(GO) run ./cmd/internal/testsummary

.PHONY: unit
unit: ## Unit tests only (no cluster, registry or binaries)
	$(GO) test -count=1 ./pkg/... ./cmd/... ./internal/...

.PHONY: demo
demo: build control-plane ## Bring up a registry and a control plane, seed a Component, pull it through kubectl (KEEP=1 leaves them running)
	KUBEBUILDER_ASSETS=$(TOOLS_DIR)/envtest OCISRC_TOOL_KUBE_APISERVER_DIR=$(TOOLS_DIR)/kube-apiserver OCISRC_TOOL_ETCD_DIR=$(TOOLS_DIR)/etcd \
		$(GO) run ./cmd/internal/demo --binary bin/ocisrc --keep=$(if $(KEEP),true,false)

.PHONY: bench
# BASELINE="LABEL=PATH,…" adds other ocisrc builds to the Helm 3/4 table
# (for example the last build on Helm 3's library).
bench: build tools ## Measure ocisrc against the helm CLI (v3 and v4); prints the table and writes docs/benchmarks.md
	$(TEST_ENV) BENCH_BASELINE="$(BASELINE)" $(GO) run ./cmd/internal/bench --binary bin/ocisrc --out docs/benchmarks.md

.PHONY: bench-scale
bench-scale: build tools ## 10,000 Components in 100 and 1,000 namespaces, 100,000 over 10,000 charts, and 64 KiB unknown fields: cold and warm, loopback and 20 ms RTT, time and peak memory (about 20 minutes on 2 cores); updates docs/benchmarks.md
	$(TEST_ENV) $(GO) run ./cmd/internal/bench --scale --binary bin/ocisrc --out docs/benchmarks.md

.PHONY: fuzz
fuzz: ## Run every fuzz target in pkg/ for FUZZTIME each (default 30s); make test runs their seed corpora
	@for pkg in $$($(GO) list ./pkg/...); do \
		for fn in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$fn"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $${FUZZTIME:-30s} || exit 1; \
		done; \
	done

.PHONY: clean
clean: ## Remove build output and tool links (the tool cache stays)
	rm -rf bin dist $(TOOLS_DIR)

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
