package v1alpha1

// Reason of the tenant's Accepted condition (and of its other conditions) when another
// GatewayTenant owns a Service port it names.
const (
	// ReasonConflicted: an older GatewayTenant of the same namespace (by creation time, then
	// by name, as Gateway API resolves conflicts) exposes a Service port this tenant also
	// names; the message names it and the port. One tenant owns a Service port, so that no
	// second tenant can open the same pods directly while the first sends them through its
	// verifying proxy. Nothing is written for this tenant while the conflict lasts: move its
	// upstreams into the named tenant, or expose another Service or port.
	ReasonConflicted = "Conflicted"
)

// Reasons of an upstream's Ready condition (and, through InvalidUpstreams, the tenant's
// ResolvedRefs) about what the upstream names.
const (
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
)
