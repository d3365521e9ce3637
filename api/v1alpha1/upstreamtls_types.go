package v1alpha1

// UpstreamTLSMode says who verifies the TLS upstreams of a data plane's tenants.
//
// +kubebuilder:validation:Enum=Proxy;BackendTLSPolicy
type UpstreamTLSMode string

const (
	// UpstreamTLSModeProxy: the operator runs a proxy per tenant that takes plain HTTP from
	// the gateway and speaks verified TLS to each TLS upstream. The gateway calls the proxy.
	UpstreamTLSModeProxy UpstreamTLSMode = "Proxy"

	// UpstreamTLSModeBackendTLSPolicy: the gateway is a Gateway API implementation that
	// verifies upstream TLS itself. The operator writes one gateway.networking.k8s.io/v1
	// BackendTLSPolicy per TLS upstream and runs no proxy; the gateway calls the upstream's
	// Service directly.
	UpstreamTLSModeBackendTLSPolicy UpstreamTLSMode = "BackendTLSPolicy"
)

// UpstreamTLSSpec says how the TLS upstreams of a data plane's tenants are verified.
//
// +kubebuilder:validation:XValidation:rule="!has(self.backendTLSPolicy) || (has(self.mode) && self.mode == 'BackendTLSPolicy')",message="backendTLSPolicy applies to mode BackendTLSPolicy only: set mode: BackendTLSPolicy, or remove backendTLSPolicy"
type UpstreamTLSSpec struct {
	// mode is who verifies TLS upstreams: Proxy (the operator's proxy, the default) or
	// BackendTLSPolicy (the gateway, a Gateway API implementation, through the
	// BackendTLSPolicies the operator writes). Changing it moves every tenant of the data
	// plane from one path to the other; each tenant's new path is in place before its old one
	// goes (docs/gateway-api.md).
	//
	// +optional
	// +kubebuilder:default=Proxy
	Mode UpstreamTLSMode `json:"mode,omitempty"`

	// backendTLSPolicy says what the operator must know of the gateway's Gateway API
	// implementation to write BackendTLSPolicies for it. Only with mode BackendTLSPolicy.
	//
	// +optional
	BackendTLSPolicy *BackendTLSPolicySettings `json:"backendTLSPolicy,omitempty"`
}

// BackendTLSPolicySettings describe the gateway's Gateway API implementation where
// BackendTLSPolicy leaves it to the implementation.
type BackendTLSPolicySettings struct {
	// defaultMinVersion is the lowest TLS version the implementation accepts from an
	// upstream when a BackendTLSPolicy says nothing about it (Envoy-based implementations and
	// NGINX: TLS 1.2). A tenant's tls.minVersion at or below it needs nothing written; one
	// above it needs minVersionOption, or the upstream is refused.
	//
	// +optional
	// +kubebuilder:default="1.2"
	DefaultMinVersion TLSVersion `json:"defaultMinVersion,omitempty"`

	// minVersionOption is the key of a BackendTLSPolicy's spec.options under which the
	// implementation documents a minimum TLS version, e.g. kgateway.dev/min-tls-version.
	// When set, every BackendTLSPolicy carries the tenant's tls.minVersion under it, as
	// "1.2" or "1.3". Unset: the implementation has no such option, and a tenant asking for
	// more than defaultMinVersion is refused rather than written as if it were enforced.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')",message="minVersionOption must be a domain-prefixed key such as example.com/min-tls-version: Gateway API reserves keys without a prefix for itself"
	MinVersionOption string `json:"minVersionOption,omitempty"`
}

// TLSMode is the data plane's spec.upstreamTLS.mode: Proxy when unset.
func (s *GatewayDataPlaneSpec) TLSMode() UpstreamTLSMode {
	if s.UpstreamTLS == nil || s.UpstreamTLS.Mode == "" {
		return UpstreamTLSModeProxy
	}
	return s.UpstreamTLS.Mode
}

// BackendTLSPolicySettings are the data plane's spec.upstreamTLS.backendTLSPolicy with
// their defaults filled in.
func (s *GatewayDataPlaneSpec) BackendTLSPolicySettings() BackendTLSPolicySettings {
	var out BackendTLSPolicySettings
	if s.UpstreamTLS != nil && s.UpstreamTLS.BackendTLSPolicy != nil {
		out = *s.UpstreamTLS.BackendTLSPolicy
	}
	if out.DefaultMinVersion == "" {
		out.DefaultMinVersion = TLSVersion12
	}
	return out
}

// The data plane's UpstreamTLSReady condition: whether TLS upstreams can be verified the way
// spec.upstreamTLS.mode says.
const (
	// ConditionUpstreamTLSReady is True when the data plane's mode can be served: always for
	// Proxy; for BackendTLSPolicy when the API server serves gateway.networking.k8s.io/v1
	// BackendTLSPolicies (the manager looks once, at start).
	ConditionUpstreamTLSReady = "UpstreamTLSReady"

	// ReasonProxyVerifies (UpstreamTLSReady, True): the operator's proxy verifies the TLS
	// upstreams of the data plane's tenants.
	ReasonProxyVerifies = "ProxyVerifies"

	// ReasonGatewayVerifies (UpstreamTLSReady, True): the gateway verifies the TLS upstreams
	// through the BackendTLSPolicies the operator writes.
	ReasonGatewayVerifies = "GatewayVerifies"

	// ReasonBackendTLSPolicyUnavailable (the data plane's UpstreamTLSReady, a tenant's
	// BackendTLSPolicyReady and its TLS upstreams' Ready, all False): the data plane's mode is
	// BackendTLSPolicy, but the API server did not serve gateway.networking.k8s.io/v1
	// BackendTLSPolicies when the manager started. Nothing is written for TLS upstreams, and
	// what they had stays. Install the Gateway API standard CRDs (v1.4 or later), then restart
	// the manager.
	ReasonBackendTLSPolicyUnavailable = "BackendTLSPolicyUnavailable"
)

// A tenant's BackendTLSPolicyReady condition, and each TLS upstream's
// BackendTLSPolicyAccepted condition, on a data plane in mode BackendTLSPolicy.
const (
	// ConditionBackendTLSPolicyReady (tenant) is True when the BackendTLSPolicy of every TLS
	// upstream the gateway verifies is written, and there when the data plane's mode is
	// BackendTLSPolicy (or writing a BackendTLSPolicy failed). Its reasons: Ready,
	// NotRequired (no TLS upstream), NoValidUpstreams, ApplyFailed,
	// BackendTLSPolicyUnavailable.
	ConditionBackendTLSPolicyReady = "BackendTLSPolicyReady"

	// ConditionBackendTLSPolicyAccepted (each TLS upstream the gateway verifies) is what the
	// gateway's implementation reported on the upstream's BackendTLSPolicy in its
	// status.ancestors, per Gateway and controller: True (reason Accepted) when every
	// ancestor has Accepted and ResolvedRefs True (an ancestor without ResolvedRefs counts as
	// resolved); False with the implementation's own reason and message (Conflicted, Invalid,
	// TargetNotFound, NoValidCACertificate, InvalidCACertificateRef, InvalidKind, or its own)
	// when one refuses it; Unknown (AwaitingImplementation) while none has reported on its
	// current generation. A False one makes the upstream's and the tenant's Ready False with
	// the same reason, as Verified does in Proxy mode.
	ConditionBackendTLSPolicyAccepted = "BackendTLSPolicyAccepted"

	// ReasonAwaitingImplementation (BackendTLSPolicyAccepted, Unknown): no Gateway API
	// implementation has reported on the BackendTLSPolicy's current generation yet. An
	// implementation reports once a route of one of its Gateways sends traffic to the
	// Service. It does not make Ready False.
	ReasonAwaitingImplementation = "AwaitingImplementation"

	// ReasonNotExpressibleInBackendTLSPolicy (upstream Ready): the upstream's tls asks for
	// what a BackendTLSPolicy cannot express, and the data plane's gateway verifies through
	// BackendTLSPolicy: clientCertificateRef (Gateway API puts client certificates on the
	// Gateway, not per upstream), verifyDepth, minVersion above the implementation's default
	// without a minVersionOption, or wellKnownCACertificates
	// gatewaytenant.io/openshift-service-ca (the operator's own bundle). The message names each
	// field. Nothing is written for the upstream that would look as if it were enforced;
	// what it had stays.
	ReasonNotExpressibleInBackendTLSPolicy = "NotExpressibleInBackendTLSPolicy"

	// ReasonServicePortUnnamed (upstream Ready): a BackendTLSPolicy targets a Service port by
	// its name (sectionName), and the upstream's Service port has none. Name it
	// (spec.ports[].name, e.g. https).
	ReasonServicePortUnnamed = "ServicePortUnnamed"
)

// A TLS upstream whose Service port another BackendTLSPolicy already targets, one the
// operator did not write and which takes precedence by Gateway API's rule (older creation
// time, then namespace/name), has Ready=False with reason Conflicted (ReasonConflicted),
// naming that policy. The operator never edits or deletes a BackendTLSPolicy it does not own.
