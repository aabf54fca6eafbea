# Ebb — build, generate, test and demo.
#
#   make demo       start a local control plane with Ebb's CRDs and an example
#   make test       everything CI runs: vet, gofmt, generation check, go test -race
#   make generate   regenerate deepcopy code and CRDs (deploy/crds)
#   make tools      build etcd, kube-apiserver, kube-controller-manager, controller-gen (cached)

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

KUBE_VERSION ?= v1.37.2
TOOLS_DIR    ?= $(or $(EBB_TOOLS_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ebb/tools-$(KUBE_VERSION))
CONTROLLER_GEN := $(TOOLS_DIR)/controller-gen
GO_TEST_FLAGS ?= -race -timeout 45m
PKGS ?= ./...

export EBB_TOOLS_DIR := $(TOOLS_DIR)
export KUBEBUILDER_ASSETS := $(TOOLS_DIR)

.PHONY: all tools generate verify-generated fmt-check vet test test-unit services demo build

all: build

build:
	go build ./...

tools:
	@tests/tools/build.sh "$(TOOLS_DIR)" >/dev/null

generate: tools
	$(CONTROLLER_GEN) object paths=./apis/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=false paths=./apis/... output:crd:artifacts:config=deploy/crds
	gofmt -w apis

# Regenerates into a scratch copy and fails when the committed files differ.
verify-generated: tools
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp -r apis "$$tmp/apis"; mkdir -p "$$tmp/crds"; \
	cp go.mod go.sum "$$tmp/"; \
	(cd "$$tmp" && $(CONTROLLER_GEN) object paths=./apis/... && \
	  $(CONTROLLER_GEN) crd paths=./apis/... output:crd:artifacts:config=crds && gofmt -w apis); \
	if ! diff -r apis "$$tmp/apis" >/dev/null || ! diff -r deploy/crds "$$tmp/crds" >/dev/null; then \
	  echo "generated files are stale: run 'make generate' and commit the result" >&2; \
	  diff -r apis "$$tmp/apis" | head -40 >&2 || true; diff -r deploy/crds "$$tmp/crds" | head -40 >&2 || true; \
	  exit 1; fi; echo "generated files are up to date"

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [[ -n "$$out" ]]; then echo "gofmt needed on:" >&2; echo "$$out" >&2; exit 1; fi

vet:
	go vet ./...

# Services the tests need beyond those the machine runs: see tests/services.sh.
services:
	@tests/services.sh

test: tools fmt-check vet verify-generated services
	go test $(GO_TEST_FLAGS) $(PKGS)

# Fast loop: one package, no race detector, e.g. make test-unit PKGS=./scalers/...
test-unit:
	go test $(PKGS)

demo: tools
	go build -o bin/ebb ./cmd/ebb
	bin/ebb demo
