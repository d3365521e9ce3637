# The operator image: the manager (/manager, the entrypoint) and the TLS proxy it runs for
# tenants (/proxy), in one image. `make docker-build IMG=...` builds it (needs a container
# engine); `make docker-build-binaries` runs the same build script without one, which is what
# CI checks. See docs/install.md.

FROM golang:1.26 AS builder
ARG TARGETOS=linux
ARG TARGETARCH
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

# Static binaries need no shell or libc at run time.
FROM gcr.io/distroless/static:nonroot
ARG VERSION=0.1.0
LABEL name="gatewaytenant-operator" \
      vendor="gatewaytenant project" \
      version="v${VERSION}" \
      release="1" \
      summary="Connects tenants' Services to a shared API gateway." \
      description="Turns one GatewayTenant per namespace into the NetworkPolicies and the verifying TLS proxy a shared API gateway needs to reach that namespace's upstream Services, and reports what is wrong in status conditions." \
      maintainer="gatewaytenant maintainers <maintainers@gatewaytenant.io>" \
      io.k8s.display-name="GatewayTenant Operator" \
      io.k8s.description="Operator that connects tenants' Services to a shared API gateway, with NetworkPolicies and verified upstream TLS." \
      io.openshift.tags="gateway,api-gateway,networkpolicy,tls,mtls,operator"
WORKDIR /
COPY LICENSE /licenses/LICENSE
COPY --from=builder /out/manager /out/proxy /
# Any UID works (OpenShift assigns one); 65532 is distroless's nonroot user.
USER 65532:65532
ENTRYPOINT ["/manager"]
