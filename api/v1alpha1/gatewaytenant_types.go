package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// GatewayTenantSpec is what one namespace exposes to the shared gateway.
type GatewayTenantSpec struct {
	// dataPlane names the GatewayDataPlane whose gateway calls these upstreams. When empty,
	// the data plane marked default is used.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	DataPlane string `json:"dataPlane,omitempty"`

	// environments lists the gateway environments that may call in, e.g. [test, prod].
	// When empty, every environment of the data plane may.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Environments []EnvironmentName `json:"environments,omitempty"`

	// upstreams are the Services of this namespace that the gateway calls.
	//
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Upstreams []Upstream `json:"upstreams"`

	// proxy sizes the TLS proxy the operator runs for the TLS upstreams, within the
	// platform's bounds; the platform's defaults otherwise.
	//
	// +optional
	Proxy *ProxySizing `json:"proxy,omitempty"`

	// gatewayID is the id of the tenant's gateway on the platform (the reference platform's
	// `gwa gateway create` prints it, e.g. gw-1a2b3). When set, every service of
	// status.gatewayConfig carries the data plane's namespace tag for it (ns.<gatewayID> on
	// the reference platform), which the platform requires to publish it.
	//
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	GatewayID string `json:"gatewayID,omitempty"`

	// dataClass is the data class of this tenant's upstreams: one of the classes of its data
	// plane (spec.gatewayService.dataClass.classes; on the reference platform's Emerald
	// cluster public, medium or high). It goes into the data-class tag of status.gatewayConfig
	// and, where the cluster requires a data-class label on workloads, onto the proxy's pods.
	// A data plane that has data classes and no default refuses a tenant without one; a
	// data plane without data classes refuses a tenant with one.
	//
	// +optional
	DataClass DataClassName `json:"dataClass,omitempty"`
}

// Upstream is one Service of the tenant's namespace that the gateway calls, exactly as the
// tenant names it in the gateway's Service definition.
type Upstream struct {
	// name identifies the upstream within this tenant; a DNS label.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// host is the Kubernetes Service as the gateway addresses it:
	// <service>.<namespace>.svc, where namespace is the tenant's own.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=131
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?[.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?[.]svc$')",message="host must have the form <service>.<namespace>.svc, e.g. my-upstream-api.abc123-prod.svc"
	Host string `json:"host"`

	// port is the Service port the gateway calls; it must be one of the Service's ports.
	//
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// tls, when set, makes the upstream verified: by a proxy the operator runs, which takes
	// plain HTTP from the gateway and talks verified TLS to this upstream, or, where the data
	// plane's spec.upstreamTLS.mode is BackendTLSPolicy, by the gateway itself through a
	// BackendTLSPolicy the operator writes. When omitted the gateway reaches the Service
	// directly, in plain text.
	//
	// +optional
	TLS *UpstreamTLS `json:"tls,omitempty"`
}

// WellKnownCAOpenShiftServiceCA trusts the OpenShift service CA, which signs service-serving
// certificates (service.beta.openshift.io/serving-cert-secret-name).
const WellKnownCAOpenShiftServiceCA gwapiv1.WellKnownCACertificatesType = "gatewaytenant.io/openshift-service-ca"

// TLSVersion is a TLS protocol version.
//
// +kubebuilder:validation:Enum="1.2";"1.3"
type TLSVersion string

const (
	// TLSVersion12 is TLS 1.2.
	TLSVersion12 TLSVersion = "1.2"
	// TLSVersion13 is TLS 1.3.
	TLSVersion13 TLSVersion = "1.3"
)

// UpstreamTLS is how the proxy verifies the upstream and authenticates to it.
type UpstreamTLS struct {
	// validation says how the upstream's certificate is verified; same shape and meaning as
	// the validation of a Gateway API BackendTLSPolicy.
	//
	// +required
	Validation UpstreamTLSValidation `json:"validation"`

	// verifyDepth is the most intermediate certificates allowed between the upstream's
	// certificate and a trusted CA (OpenSSL and Kong meaning: 0 means the leaf is signed
	// directly by a trusted CA). Unset means no limit.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	VerifyDepth *int32 `json:"verifyDepth,omitempty"`

	// minVersion is the lowest TLS version the proxy accepts from the upstream.
	//
	// +optional
	// +kubebuilder:default="1.2"
	MinVersion TLSVersion `json:"minVersion,omitempty"`

	// clientCertificateRef names a kubernetes.io/tls Secret in this namespace whose
	// certificate the proxy presents to the upstream (mutual TLS).
	//
	// +optional
	ClientCertificateRef *SecretReference `json:"clientCertificateRef,omitempty"`
}

// UpstreamTLSValidation mirrors gateway-api's BackendTLSPolicyValidation, with hostname
// optional (it defaults to the upstream host) and the CA reference group and kind defaulted.
//
// +kubebuilder:validation:XValidation:rule="has(self.caCertificateRefs) != has(self.wellKnownCACertificates)",message="exactly one of caCertificateRefs or wellKnownCACertificates must be set"
type UpstreamTLSValidation struct {
	// caCertificateRefs name ConfigMaps or Secrets in this namespace whose key ca.crt holds
	// PEM CA certificates that the upstream's chain must lead to. Several are merged.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	CACertificateRefs []CACertificateReference `json:"caCertificateRefs,omitempty"`

	// wellKnownCACertificates selects a well-known trust bundle instead: "System" for the
	// proxy image's system CAs, or "gatewaytenant.io/openshift-service-ca" for the OpenShift
	// service CA (the namespace's openshift-service-ca.crt ConfigMap), which signs the
	// service-serving certificates of Services (SAN <service>.<namespace>.svc).
	//
	// +optional
	WellKnownCACertificates *gwapiv1.WellKnownCACertificatesType `json:"wellKnownCACertificates,omitempty"`

	// hostname is the SNI sent to the upstream and, unless subjectAltNames is set, the name
	// its certificate must carry. Defaults to the upstream host.
	//
	// +optional
	Hostname *gwapiv1.PreciseHostname `json:"hostname,omitempty"`

	// subjectAltNames, when set, replace the hostname check: the upstream certificate must
	// carry at least one of them.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	SubjectAltNames []gwapiv1.SubjectAltName `json:"subjectAltNames,omitempty"`
}

// CACertificateReference names a ConfigMap or Secret in the tenant's namespace holding PEM CA
// certificates under the key ca.crt.
type CACertificateReference struct {
	// group of the referent; only the core group ("") is supported.
	//
	// +optional
	Group gwapiv1.Group `json:"group,omitempty"`

	// kind of the referent: ConfigMap (default) or Secret.
	//
	// +optional
	// +kubebuilder:default=ConfigMap
	Kind gwapiv1.Kind `json:"kind,omitempty"`

	// name of the referent.
	//
	// +required
	Name gwapiv1.ObjectName `json:"name"`
}

// SecretReference names a Secret in the tenant's namespace.
type SecretReference struct {
	// name of the Secret.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// GatewayTenantStatus is the observed state of a GatewayTenant.
type GatewayTenantStatus struct {
	// observedGeneration is the generation this status was computed for.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// dataPlane is the GatewayDataPlane the tenant was resolved against.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	DataPlane string `json:"dataPlane,omitempty"`

	// conditions: Ready (summary), Accepted, ResolvedRefs, NetworkPolicyReady, ProxyReady, and
	// on a data plane whose gateway verifies TLS upstreams BackendTLSPolicyReady.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// upstreams reports, per upstream, what to write in the gateway and whether it works.
	//
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Upstreams []UpstreamStatus `json:"upstreams,omitempty"`

	// gatewayConfig is the gateway's service definition of every upstream that has a gateway
	// address in status.upstreams, in the format of the data plane's spec.gatewayService: on
	// the reference platform one `kind: GatewayService` document per upstream (name, tags,
	// host, port, protocol; no routes), ready for
	// `kubectl get gatewaytenant <name> -o jsonpath='{.status.gatewayConfig}' | gwa apply -i -`.
	// Empty while the data plane does not resolve or has no spec.gatewayService.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	GatewayConfig string `json:"gatewayConfig,omitempty"`
}

// UpstreamStatus is the observed state of one upstream.
type UpstreamStatus struct {
	// name of the upstream in spec.upstreams.
	//
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// gatewayHost is the host to write in the gateway's Service definition.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	GatewayHost string `json:"gatewayHost,omitempty"`

	// gatewayPort is the port to write in the gateway's Service definition.
	//
	// +optional
	GatewayPort int32 `json:"gatewayPort,omitempty"`

	// conditions: Ready, with a reason saying what is wrong when it is not; for a TLS upstream
	// Verified (the proxy's verification) or BackendTLSPolicyAccepted (what the gateway's
	// implementation reported on its BackendTLSPolicy).
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GatewayTenant is what one namespace exposes to a shared API gateway: its upstreams, and
// which gateway environments may call them.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gt,categories=gatewaytenant-all
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="DataPlane",type=string,JSONPath=`.status.dataPlane`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 57 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 57 characters that starts with a letter (lower-case letters, digits and '-'): it prefixes the names of the objects the operator creates, e.g. the Service <name>-proxy"
type GatewayTenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the namespace exposes.
	//
	// +required
	Spec GatewayTenantSpec `json:"spec"`

	// status is what the operator made of it.
	//
	// +optional
	Status GatewayTenantStatus `json:"status,omitempty"`
}

// GatewayTenantList is a list of GatewayTenants.
//
// +kubebuilder:object:root=true
type GatewayTenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GatewayTenant `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GatewayTenant{}, &GatewayTenantList{})
}
