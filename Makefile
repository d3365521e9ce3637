# gatewaytenant-operator
#
#   make demo        the whole product on a local control plane (no cluster needed)
#   make test        every test, on a real kube-apiserver and etcd built on first use
#   make run         the manager against the current kubeconfig

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
CONTROL_PLANE ?= $(LOCALBIN)/control-plane
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GO_TEST_FLAGS ?= -race -count=1

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code, CRDs and RBAC from the API markers.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths=./controllers/... paths=./internal/... output:rbac:artifacts:config=config/rbac

# docs/api.md is generated from the Go types of api/ by crd-ref-docs (maintained by Elastic),
# run from the Go module proxy at this version; test/bundle fails when docs/api.md is stale.
CRD_REF_DOCS_VERSION ?= v0.3.0

.PHONY: api-docs
api-docs: ## Generate the API reference docs/api.md from api/.
	go run github.com/elastic/crd-ref-docs@$(CRD_REF_DOCS_VERSION) --source-path=./api/v1alpha1 \
		--config=hack/api-docs/config.yaml --renderer=markdown --output-path=docs/api.md

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when generated files are stale.
	hack/verify-generated.sh

.PHONY: fmt
fmt:
	go fmt ./...

.PHONY: vet
vet:
	go vet ./...

.PHONY: test
test: verify-generated vet control-plane fuzz ## Run every test against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS=$(CONTROL_PLANE) go test $(GO_TEST_FLAGS) ./...

# The proxy's fuzzers run for FUZZTIME each on top of their seed corpus on every make test
# (CI), about a minute in all, so that a crash found once stays a test case (testdata/fuzz
# of proxy/fuzz and proxy): the configuration parser, the fast path's head reader against
# net/http's, and the two engines against each other (docs/proxy.md, "Fuzzing").
FUZZTIME ?= 20s

.PHONY: fuzz
fuzz: ## Fuzz the proxy's configuration parser, head reader and engines for FUZZTIME each (default 20s).
	go test ./proxy/fuzz -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME)
	go test ./proxy/fuzz -run '^$$' -fuzz '^FuzzHeadParser$$' -fuzztime $(FUZZTIME)
	go test ./proxy -run '^$$' -fuzz '^FuzzEngines$$' -fuzztime $(FUZZTIME)

##@ Build

.PHONY: build
build: ## Build the manager and the proxy into bin/.
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/proxy ./cmd/proxy

.PHONY: run
run: generate ## Run the manager against the current kubeconfig.
	go run ./cmd/manager $(ARGS)

.PHONY: control-plane
control-plane: ## Build (once) the kube-apiserver and etcd that tests and the demo use.
	hack/control-plane.sh $(CONTROL_PLANE)

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

##@ Demo and end-to-end tests

# make demo KEEP=1 keeps the control plane, the manager and the proxy running until Ctrl-C.
# bin/demo carries the CRDs (config/crd embeds them), so it needs no source tree at run time.
.PHONY: demo
demo: control-plane build ## Play the whole story on a local control plane (no cluster needed; KEEP=1 to explore after).
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/demo ./cmd/demo
	KUBEBUILDER_ASSETS=$(CONTROL_PLANE) $(LOCALBIN)/demo --proxy $(LOCALBIN)/proxy $(if $(filter 1 true yes,$(KEEP)),--keep)

.PHONY: test-e2e
test-e2e: control-plane ## Only the end-to-end suite: the story of make demo, every step asserted.
	KUBEBUILDER_ASSETS=$(CONTROL_PLANE) go test $(GO_TEST_FLAGS) ./test/e2e/...

##@ Benchmarks

N ?= 1000
VARIANT ?= plain
NOISE ?= 0

# make bench-operator N=10000 VARIANT=tls NOISE=4000 BENCH_ARGS="-idle 60s"
# The manager is built with -tags bench: in TLS runs its proxy state poller dials the one
# process that plays every proxy replica (cmd/manager/harness_bench.go); the product build
# has no such seam.
.PHONY: bench-operator
bench-operator: control-plane ## The operator at scale against the API server's own write speed (docs/benchmarks.md).
	CGO_ENABLED=0 go build -trimpath -tags bench -o $(LOCALBIN)/manager-bench ./cmd/manager
	go run ./hack/bench-operator -manager $(LOCALBIN)/manager-bench -tenants $(N) -variant $(VARIANT) -noise $(NOISE) $(BENCH_ARGS)

##@ Image and OLM bundle (docs/install.md)

VERSION ?= 0.1.0
IMG ?= quay.io/gatewaytenant/gatewaytenant-operator:v$(VERSION)
BUNDLE_IMG ?= quay.io/gatewaytenant/gatewaytenant-operator-bundle:v$(VERSION)
# Channels: candidate, fast, stable (docs/install.md, "Upgrades"). PREVIOUS_VERSION is the
# release this one replaces; SKIP_RANGE lets every older version upgrade straight to this one.
CHANNELS ?= candidate
PREVIOUS_VERSION ?=
SKIP_RANGE ?= <$(VERSION)
DEFAULT_CHANNEL ?= candidate
CONTAINER_TOOL ?= docker
# RELEASE labels the image: rebuilds of one VERSION differ by it.
RELEASE ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
# The platforms of the image's manifest list; the CSV's operatorframework.io/arch.* labels and
# the manager's node affinity list the same (test/bundle checks).
PLATFORMS ?= linux/amd64,linux/arm64,linux/ppc64le,linux/s390x

.PHONY: bundle
bundle: ## Generate bundle/ and bundle.Dockerfile from config/default or CONFIG=<your overlay> (VERSION, IMG, CHANNELS, DEFAULT_CHANNEL, PREVIOUS_VERSION, SKIP_RANGE, PLATFORMS).
	go run ./hack/bundlegen --version $(VERSION) --image $(IMG) --channels $(CHANNELS) --default-channel $(DEFAULT_CHANNEL) $(if $(CONFIG),--config $(CONFIG)) \
		--replaces "$(PREVIOUS_VERSION)" --skip-range "$(SKIP_RANGE)" --platforms $(PLATFORMS)

.PHONY: docker-build-binaries
docker-build-binaries: ## Build the image's /manager and /proxy exactly as the Dockerfile does, into bin/image/.
	hack/build-image-binaries.sh $(LOCALBIN)/image

.PHONY: docker-build
docker-build: ## Build the operator image IMG (needs a container engine).
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) --build-arg RELEASE=$(RELEASE) -t $(IMG) .

.PHONY: docker-buildx
docker-buildx: ## Build and push IMG for every platform of PLATFORMS as one manifest list (needs docker buildx).
	docker buildx build --push --platform=$(PLATFORMS) --build-arg VERSION=$(VERSION) --build-arg RELEASE=$(RELEASE) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the operator image IMG.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: bundle-build
bundle-build: ## Build the bundle image BUNDLE_IMG from bundle/ (needs a container engine).
	$(CONTAINER_TOOL) build -f bundle.Dockerfile -t $(BUNDLE_IMG) .

.PHONY: bundle-push
bundle-push: ## Push the bundle image BUNDLE_IMG.
	$(CONTAINER_TOOL) push $(BUNDLE_IMG)
