# obsyk-hub — every build, test and tool step goes through here. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
BIN := $(ROOT)/bin
K8S_VERSION := v1.37.2
TESTBINS := $(BIN)/k8s/$(K8S_VERSION)
CONTROLLER_GEN_VERSION := v0.23.0
HELM_VERSION := v3.22.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
HELM := $(BIN)/helm-$(HELM_VERSION)
# What helm's own release build stamps in with -X: its version, and the Kubernetes version
# `helm template` and `helm lint` assume without a cluster (1.<minor of helm's client-go>;
# v3.22.0 uses client-go v0.37). Without them a `go install`ed helm assumes Kubernetes 1.20.
HELM_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/internal/version.metadata= \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# How long `make demo` runs; empty means until Ctrl-C.
DURATION ?=
# Extra flags for go test, e.g. TESTFLAGS='-run TestFleet -v'.
TESTFLAGS ?=
# One test binary at a time (-p 1): several packages start real control planes, and the
# transport tests use 1-second tokens; running them side by side on 2 cores only adds noise.
GO_TEST := go test -race -count=1 -p 1 -timeout 40m $(TESTFLAGS)
CHART := charts/obsyk-hub
# What `make generate` writes into the chart; `make verify` fails when it drifts.
GENERATED_CHART_FILES := $(CHART)/files/crds $(CHART)/files/rbac

# Tests find the control-plane binaries here (testbed.BinaryDir honours it).
export KUBEBUILDER_ASSETS := $(TESTBINS)

.PHONY: help
help: ## List the targets.
	@echo 'obsyk-hub — make targets:'
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build the binaries (obsyk-hub, obsyk-platform-sim) into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/obsyk-hub ./cmd/obsyk-hub
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/obsyk-platform-sim ./cmd/obsyk-platform-sim

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy, the CRD (api/ markers) and the hub's ClusterRole (controllers/ markers) into the chart.
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=$(CHART)/files/crds
	$(CONTROLLER_GEN) rbac:roleName=obsyk-hub paths=./controllers/... output:rbac:artifacts:config=$(CHART)/files/rbac

.PHONY: verify
verify: generate ## Fail when generated files or go.mod/go.sum drift from their sources.
	@drift=$$(git status --porcelain -- api $(GENERATED_CHART_FILES)); \
	if [ -n "$$drift" ]; then echo "verify: generated files are out of date; run 'make generate' and commit:"; echo "$$drift"; git --no-pager diff -- api $(GENERATED_CHART_FILES) | head -50; exit 1; fi
	go mod tidy -diff
	cd e2e/tools && go mod tidy -diff
	@echo "verify: generated files and go.mod are up to date"

.PHONY: lint
lint: ## gofmt and go vet.
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "lint: gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	@echo "lint: ok"

##@ Test

.PHONY: test
test: lint verify testbins test-unit test-e2e ## Everything CI runs: lint, verify, unit, integration and e2e tests.

.PHONY: test-unit
test-unit: testbins ## Unit and integration tests (real control planes where Kubernetes is involved), race detector on.
	$(GO_TEST) $$(go list ./... | grep -v '/e2e/')

.PHONY: test-e2e
test-e2e: testbins $(HELM) ## The test bed, platform simulator, convergence checker, Helm chart and end-to-end suite (the hub binary under faults), on real control planes.
	$(GO_TEST) ./e2e/...

# Extra arguments of e2e/kind/run.sh, e.g. KIND_ARGS=--keep.
KIND_ARGS ?=

.PHONY: test-e2e-kind
test-e2e-kind: $(HELM) ## The e2e scenarios on kind clusters, a hub and 2 members (needs Docker, kind, kubectl; not run in CI). See e2e/kind/README.md.
	HELM=$(HELM) e2e/kind/run.sh $(KIND_ARGS)

# QUICK=1 make bench: smaller sizes, a few minutes.
QUICK ?=

.PHONY: bench
bench: testbins ## End-to-end benchmark (real control planes, simulator, hub binary) → e2e/bench/REPORT.md; ~20 min, QUICK=1 < 5 min.
	go run ./e2e/bench $(if $(filter 1,$(QUICK)),--quick)

.PHONY: bench-micro
bench-micro: testbins ## Go microbenchmarks: transport throughput beside a bare HTTP loop, streamed snapshot memory, ingest queues and caches.
	go test -run '^$$' -bench . -benchmem -count=1 ./transport/... ./ingest/...

.PHONY: testbins
testbins: ## Build kube-apiserver, etcd and kubectl v1.37.2 from source into bin/k8s/ (cold: 5-15 min, then cached).
	@e2e/tools/build.sh $(TESTBINS)

# Image reference for docker-build.
IMG ?= obsyk-hub:$(VERSION)

.PHONY: docker-build
docker-build: ## Build the container image IMG (needs a Docker engine; these machines have none).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

##@ Run

.PHONY: demo
demo: testbins ## Local fleet (hub control plane + 3 members) and platform simulator, members registered, churn; DURATION=60s stops it. The hub itself is not built yet.
	go run ./e2e/demo $(if $(DURATION),--duration $(DURATION))

##@ Tools and chart

.PHONY: tools
tools: $(CONTROLLER_GEN) $(HELM) ## Install the pinned tools (controller-gen, helm) into bin/.

$(CONTROLLER_GEN):
	@echo "tools: installing controller-gen $(CONTROLLER_GEN_VERSION) into bin/"
	@mkdir -p $(BIN)/.gobin-cg
	GOBIN=$(BIN)/.gobin-cg go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/.gobin-cg/controller-gen $@

$(HELM):
	@echo "tools: installing helm $(HELM_VERSION) into bin/ (a cold build takes a few minutes)"
	@mkdir -p $(BIN)/.gobin-helm
	GOBIN=$(BIN)/.gobin-helm go install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.gobin-helm/helm $@

.PHONY: helm-lint
helm-lint: $(HELM) ## helm lint the chart, with its default values and with each ci/*-values.yaml.
	$(HELM) lint --strict $(CHART)
	@for f in $(CHART)/ci/*-values.yaml; do echo "$(HELM) lint --strict $(CHART) -f $$f"; $(HELM) lint --strict $(CHART) -f "$$f"; done
