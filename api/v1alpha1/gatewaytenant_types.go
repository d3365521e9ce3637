package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	// clientCertificate is the client identity the proxy replicas present to a TLS upstream
	// with mutual TLS, as they report it: where it comes from, and the certificate each
	// replica holds.
	//
	// +optional
	ClientCertificate *ClientCertificateStatus `json:"clientCertificate,omitempty"`
}

// ClientCertificateStatus is where a TLS upstream's client identity comes from, and what each
// proxy replica holds of it.
type ClientCertificateStatus struct {
	// secretName is the Secret of spec clientCertificateRef.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`

	// signerName is the signer of the replicas' pod certificates (spec podCertificate).
	//
	// +optional
	// +kubebuilder:validation:MaxLength=571
	SignerName string `json:"signerName,omitempty"`

	// replicas are the certificates the proxy replicas that reported hold, by pod. With a
	// pod certificate each replica holds its own, renewed by the kubelet.
	//
	// +optional
	// +listType=map
	// +listMapKey=pod
	// +kubebuilder:validation:MaxItems=16
	Replicas []ReplicaCertificate `json:"replicas,omitempty"`
}

// ReplicaCertificate is the client certificate one proxy replica holds.
type ReplicaCertificate struct {
	// pod is the replica's pod.
	//
	// +required
	// +kubebuilder:validation:MaxLength=253
	Pod string `json:"pod"`

	// subject of the certificate, e.g. CN=my-api-proxy-7c9f8-x2x4q.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Subject string `json:"subject,omitempty"`

	// issuer of the certificate.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Issuer string `json:"issuer,omitempty"`

	// notAfter is when the certificate expires.
	//
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
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
