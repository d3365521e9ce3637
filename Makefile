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
test: verify-generated vet control-plane ## Run every test against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS=$(CONTROL_PLANE) go test $(GO_TEST_FLAGS) ./...

##@ Build

.PHONY: build
build: ## Build the manager and the proxy into bin/.
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/manager ./cmd/manager

.PHONY: run
run: generate ## Run the manager against the current kubeconfig.
	go run ./cmd/manager $(ARGS)

.PHONY: control-plane
control-plane: ## Build (once) the kube-apiserver and etcd that tests and the demo use.
	hack/control-plane.sh $(CONTROL_PLANE)

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
