package v1alpha1

// Reason of the tenant's Accepted condition when another GatewayTenant holds the namespace.
const (
	// ReasonConflicted: another GatewayTenant of the same namespace is older (by creation
	// time, then by name) and owns the namespace's gateway access; the message names it.
	// Nothing is written for this tenant while the other exists: merge the upstreams into
	// the named tenant, or delete one of the two.
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
