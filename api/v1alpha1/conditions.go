package v1alpha1

// Condition types of a GatewayTenant. Every condition carries the observedGeneration it was
// computed for.
const (
	// ConditionReady summarises the tenant: True when every upstream is reachable from the
	// gateway as the tenant asked. When False or Unknown, its status and reason are those of
	// the first condition below that is not True, else of the first upstream that is not
	// Ready.
	ConditionReady = "Ready"

	// ConditionAccepted is True when the tenant's data plane and environments resolve.
	ConditionAccepted = "Accepted"

	// ConditionResolvedRefs is True when every upstream's Service (and, for TLS upstreams,
	// every certificate reference) resolves and is valid. The operator reads no Secret: a
	// referenced Secret, and a pod certificate, is checked by the proxy replicas that load it,
	// and ResolvedRefs is Unknown (reason AwaitingProxyReport) until one of them has reported
	// on it.
	ConditionResolvedRefs = "ResolvedRefs"

	// ConditionNetworkPolicyReady is True when the NetworkPolicies of every upstream the
	// gateway reaches are in place: the valid ones, and those kept at their last good spec
	// while their new spec is refused (its message names them "(last good spec)").
	ConditionNetworkPolicyReady = "NetworkPolicyReady"

	// ConditionProxyReady is True when the TLS proxy serves every TLS upstream it should, also
	// while it rolls out with replicas available, or when no upstream needs it (none uses TLS,
	// or the data plane's gateway verifies them through BackendTLSPolicies).
	ConditionProxyReady = "ProxyReady"
)

// Reasons of the tenant's Accepted condition.
const (
	// ReasonAccepted: the data plane and environments resolved.
	ReasonAccepted = "Accepted"

	// ReasonDataPlaneNotFound: spec.dataPlane names no GatewayDataPlane. Fix the name, or
	// ask the platform team which data planes exist (kubectl get gatewaydataplanes).
	ReasonDataPlaneNotFound = "DataPlaneNotFound"

	// ReasonNoDefaultDataPlane: spec.dataPlane is empty and no GatewayDataPlane is marked
	// default. Name a data plane in spec.dataPlane.
	ReasonNoDefaultDataPlane = "NoDefaultDataPlane"

	// ReasonAmbiguousDefaultDataPlane: spec.dataPlane is empty and several data planes are
	// marked default. Name one in spec.dataPlane; the platform team should keep one default.
	ReasonAmbiguousDefaultDataPlane = "AmbiguousDefaultDataPlane"

	// ReasonEnvironmentNotFound: spec.environments names an environment the data plane
	// does not have. Use one of those the message lists.
	ReasonEnvironmentNotFound = "EnvironmentNotFound"

	// ReasonConflicted (Accepted, and every other condition of the tenant): an older
	// GatewayTenant of the same namespace (by creation time, then by name, as Gateway API
	// resolves conflicts) exposes a Service port this tenant also names; the message names
	// it and the port, and says how a tie of creation times was broken. One tenant owns a
	// Service port, so that no second tenant can open the same pods directly while the first
	// sends them through its verifying proxy. Nothing is written for this tenant while the
	// conflict lasts: move its upstreams into the named tenant, or expose another Service or
	// port.
	ReasonConflicted = "Conflicted"
)

// Reasons of the tenant's ResolvedRefs condition and of each upstream's Ready condition.
// Where a reason means the same as one of Gateway API's BackendTLSPolicy it has its name.
const (
	// ReasonResolvedRefs: every reference resolved.
	ReasonResolvedRefs = "ResolvedRefs"

	// ReasonInvalidUpstreams (tenant ResolvedRefs): at least one upstream is not Ready; its
	// own condition in status.upstreams says why.
	ReasonInvalidUpstreams = "InvalidUpstreams"

	// ReasonHostNotInNamespace: the upstream host names a Service of another namespace. A
	// tenant can only expose Services of its own namespace.
	ReasonHostNotInNamespace = "HostNotInNamespace"

	// ReasonServiceNotFound: no Service of that name exists in the namespace.
	ReasonServiceNotFound = "ServiceNotFound"

	// ReasonPortNotFound: the upstream port is not one of the Service's ports. Use the
	// Service port (spec.ports[].port), not the container's target port.
	ReasonPortNotFound = "PortNotFound"

	// ReasonServiceWithoutSelector: the Service has no pod selector, so there are no pods
	// a NetworkPolicy could open. Give the Service a selector.
	ReasonServiceWithoutSelector = "ServiceWithoutSelector"

	// ReasonPortNotTCP: the Service port the upstream names speaks UDP or SCTP; the gateway
	// and the proxy speak HTTP over TCP only. Name a TCP port of the Service.
	ReasonPortNotTCP = "PortNotTCP"

	// ReasonDuplicateServicePort: an earlier upstream of the same tenant already names this
	// Service and port; the later one is refused, the earlier one keeps working. Remove one
	// of the two.
	ReasonDuplicateServicePort = "DuplicateServicePort"

	// ReasonExternalNameService: the Service is of type ExternalName. It has no pods in this
	// namespace that a NetworkPolicy could open, and the gateway would follow it out of the
	// cluster: point the gateway at the external name directly, or use a Service with a
	// selector.
	ReasonExternalNameService = "ExternalNameService"

	// ReasonInvalidCACertificateRef: a CA certificate reference does not resolve: the
	// object is missing, has no ca.crt key, or holds no PEM certificate, or a certificate that
	// is not a CA; a ClusterTrustBundle of that name does not exist, or no bundle of the signer
	// matches the selector. For a Secret the proxy replicas report it (the operator reads no
	// Secret).
	ReasonInvalidCACertificateRef = "InvalidCACertificateRef"

	// ReasonInvalidKind: a CA certificate reference names a kind other than ConfigMap or
	// Secret of the core group, or ClusterTrustBundle of certificates.k8s.io.
	ReasonInvalidKind = "InvalidKind"

	// ReasonNoValidCACertificate: none of several CA certificate references is usable; the
	// message names the first problem. (With a single reference, its own reason is used.)
	ReasonNoValidCACertificate = "NoValidCACertificate"

	// ReasonUnsupportedWellKnownCA: wellKnownCACertificates names a bundle the operator does
	// not know; use System or gatewaytenant.io/openshift-service-ca.
	ReasonUnsupportedWellKnownCA = "UnsupportedWellKnownCACertificates"

	// ReasonServiceCAUnavailable: wellKnownCACertificates asks for the OpenShift service CA,
	// but the namespace has no openshift-service-ca.crt ConfigMap with key service-ca.crt:
	// the cluster is not OpenShift, or its service CA operator is not running.
	ReasonServiceCAUnavailable = "ServiceCAUnavailable"

	// ReasonInvalidClientCertificate: the client certificate Secret is missing or has no
	// tls.crt or tls.key (a Secret not of type kubernetes.io/tls has neither), does not
	// parse, or its certificate does not match its key; or a replica's pod certificate does
	// not load. The proxy replicas that mount it report it: the operator reads no Secret.
	ReasonInvalidClientCertificate = "InvalidClientCertificate"

	// ReasonCertificateExpired: a CA or client certificate (or pod certificate) has expired,
	// or is not valid yet.
	ReasonCertificateExpired = "CertificateExpired"

	// ReasonCertificateExpiringSoon: a CA or client certificate expires soon; renew it (a pod
	// certificate: within a quarter of its lifetime, which the kubelet should have renewed).
	// It is also the reason of the tenant's Ready condition, which stays True (traffic gets
	// through), and a Warning event is raised when it appears.
	ReasonCertificateExpiringSoon = "CertificateExpiringSoon"
)

// Reasons of the NetworkPolicyReady and ProxyReady conditions, and of the upstream Ready
// condition when it is True.
const (
	// ReasonReady: the thing the condition describes is in place.
	ReasonReady = "Ready"

	// ReasonNoValidUpstreams: no upstream is valid, so there is nothing to open.
	ReasonNoValidUpstreams = "NoValidUpstreams"

	// ReasonApplyFailed (NetworkPolicyReady for NetworkPolicies, ProxyReady for the proxy's
	// objects): writing a child object failed; the message has the API error and the operator
	// retries. A write that only lost a race with another writer is retried without it.
	ReasonApplyFailed = "ApplyFailed"

	// ReasonNotRequired (ProxyReady, BackendTLSPolicyReady): no upstream needs it (no upstream
	// uses TLS; for ProxyReady also: the gateway verifies them all), so none runs or is written.
	ReasonNotRequired = "NotRequired"

	// ReasonProxyProgressing (ProxyReady): the proxy Deployment rolls out (a new proxy, a
	// changed configuration or image) or has fewer available replicas than wanted; the message
	// says how far it is. True while replicas, old or new, are available: the gateway's
	// traffic gets through, and the tenant stays Ready. False while none is.
	ReasonProxyProgressing = "ProxyProgressing"

	// ReasonProxyOutdated (ProxyReady, True): the proxy serves, but still runs the image of an
	// earlier operator version; its upgrade waits for the rollout bound
	// (--proxy-rollouts-per-minute) and happens without action.
	ReasonProxyOutdated = "ProxyOutdated"

	// ReasonProxySizeNotAllowed (ProxyReady): spec.proxy asks for more replicas, cpu or memory
	// than the platform allows, or requests above limits; the message says which. The proxy
	// keeps the size it had.
	ReasonProxySizeNotAllowed = "ProxySizeNotAllowed"
)

// Labels and annotations the operator puts on what it creates.
const (
	// LabelTenant is set on every object created for a GatewayTenant; its value is the
	// tenant's name.
	LabelTenant = "gatewaytenant.io/tenant"

	// LabelUpstream is set on objects created for one upstream; its value is the upstream's
	// name.
	LabelUpstream = "gatewaytenant.io/upstream"

	// LabelManagedBy is app.kubernetes.io/managed-by; the operator caches only objects
	// that carry it with the value ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"

	// ManagedByValue is the value of LabelManagedBy on the operator's objects.
	ManagedByValue = "gatewaytenant-operator"
)

// Condition types and reasons of a GatewayDataPlane.
const (
	// ConditionPresetApplied is True on a GatewayDataPlane the manager keeps from a built-in
	// preset when its spec is the preset's.
	ConditionPresetApplied = "PresetApplied"

	// ReasonPresetApplied: the manager created or restored the data plane from its preset.
	ReasonPresetApplied = "PresetApplied"
)

// Reasons of the events the operator records on a GatewayTenant, besides the condition
// reasons it records when the tenant stops being Ready.
const (
	// EventReasonCreated (Normal): objects were created for the tenant; the note lists them.
	EventReasonCreated = "Created"
	// EventReasonUpdated (Normal): objects of the tenant were changed to what the tenant asks
	// (its spec changed, or someone else edited them); the note lists them.
	EventReasonUpdated = "Updated"
	// EventReasonDeleted (Normal): objects the tenant no longer needs were deleted; the note
	// lists them.
	EventReasonDeleted = "Deleted"
	// EventReasonApplyFailed (Warning): writing an object for the tenant failed; the note has
	// the API error. A write that lost a race with another writer (409 Conflict) is retried
	// and raises none.
	EventReasonApplyFailed = ReasonApplyFailed
)
