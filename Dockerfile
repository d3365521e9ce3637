# The operator image: the manager (/manager, the entrypoint) and the TLS proxy it runs for
# tenants (/proxy), in one image. `make docker-build IMG=...` builds it (needs a container
# engine); `make docker-buildx` builds every platform of PLATFORMS in one manifest list;
# `make docker-build-binaries` runs the same build script without an engine, which is what CI
# checks. See docs/install.md.

# The builder runs on the build machine's own platform and cross-compiles for the target
# (Go needs no emulation for that): buildx sets BUILDPLATFORM, TARGETOS and TARGETARCH.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /workspace
# Dependencies first, so that a source change reuses the downloaded modules.
COPY go.mod go.sum ./
RUN go mod download
# Every package the two binaries import (test/bundle checks this list against go list -deps).
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY proxy/ proxy/
COPY hack/build-image-binaries.sh hack/
RUN GOOS=${TARGETOS} GOARCH=${TARGETARCH} hack/build-image-binaries.sh /out

# Red Hat's certification requires a UBI base image (distroless fails its check). The
# binaries are static, so the smallest UBI, ubi-micro (no package manager), is enough; it is
# freely redistributable and gets Red Hat's security updates.
FROM registry.access.redhat.com/ubi9/ubi-micro:9.6
ARG VERSION=0.1.0
# RELEASE tells rebuilds of one version apart (a base image update is a new release);
# `make docker-build` passes the commit.
ARG RELEASE
LABEL name="gatewaytenant-operator" \
      vendor="gatewaytenant project" \
      version="v${VERSION}" \
      release="${RELEASE}" \
      summary="Connects tenants' Services to a shared API gateway." \
      description="Turns one GatewayTenant per namespace into the NetworkPolicies and the verifying TLS proxy a shared API gateway needs to reach that namespace's upstream Services, and reports what is wrong in status conditions." \
      maintainer="gatewaytenant maintainers <maintainers@gatewaytenant.io>" \
      io.k8s.display-name="GatewayTenant Operator" \
      io.k8s.description="Operator that connects tenants' Services to a shared API gateway, with NetworkPolicies and verified upstream TLS." \
      io.openshift.tags="gateway,api-gateway,networkpolicy,tls,mtls,operator"
WORKDIR /
COPY LICENSE /licenses/LICENSE
COPY --from=builder /out/manager /out/proxy /
# Any UID works (OpenShift assigns one from the namespace's range); 65532 elsewhere.
USER 65532:65532
ENTRYPOINT ["/manager"]
