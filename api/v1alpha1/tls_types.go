package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// How the proxy verifies a TLS upstream (CA sources, names, depth, version) and what client
// identity it presents to it (a Secret, or a pod certificate of each replica).

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
//
// +kubebuilder:validation:XValidation:rule="!(has(self.clientCertificateRef) && has(self.podCertificate))",message="clientCertificateRef and podCertificate are mutually exclusive: the proxy presents one client identity to an upstream"
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
	// certificate the proxy presents to the upstream (mutual TLS). The operator does not read
	// it: the kubelet mounts it into the proxy, which checks it and reports what is wrong.
	//
	// +optional
	ClientCertificateRef *SecretReference `json:"clientCertificateRef,omitempty"`

	// podCertificate gives each proxy replica a client certificate of its own for mutual
	// TLS, instead of clientCertificateRef: the kubelet makes a key in the pod, asks the named
	// signer for a certificate (a PodCertificateRequest), and renews it before it expires. No
	// Secret holds it anywhere. The upstream must trust the signer's CA.
	//
	// +optional
	PodCertificate *PodCertificateIdentity `json:"podCertificate,omitempty"`
}

// SignerName names a certificate signer: <domain>/<path>, e.g. example.com/gateway-clients.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=571
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type SignerName string

// PodCertificateKeyType is the type of key the kubelet makes for a pod certificate.
//
// +kubebuilder:validation:Enum=ECDSAP256;ECDSAP384;ECDSAP521;ED25519;RSA3072;RSA4096
type PodCertificateKeyType string

// PodCertificateKeyTypeECDSAP256 is the default key type of pod certificates.
const PodCertificateKeyTypeECDSAP256 PodCertificateKeyType = "ECDSAP256"

// PodCertificateIdentity is the client identity of the proxy replicas from a pod certificate
// signer of the cluster (the kubelet's projected podCertificate source).
//
// +kubebuilder:validation:XValidation:rule="!has(self.maxExpirationSeconds) || !(self.signerName.startsWith('kubernetes.io/') || self.signerName.contains('.kubernetes.io/')) || self.maxExpirationSeconds <= 86400",message="maxExpirationSeconds: signers of kubernetes.io issue pod certificates for at most 86400 seconds (24 hours)"
type PodCertificateIdentity struct {
	// signerName is the signer the kubelet asks for the certificate, e.g.
	// example.com/gateway-clients. The platform runs it; ask its team which to use.
	//
	// +required
	SignerName SignerName `json:"signerName"`

	// keyType is the type of key the kubelet makes: ECDSAP256 (default), ECDSAP384,
	// ECDSAP521, ED25519, RSA3072 or RSA4096. The signer may support fewer.
	//
	// +optional
	// +kubebuilder:default=ECDSAP256
	KeyType PodCertificateKeyType `json:"keyType,omitempty"`

	// maxExpirationSeconds is the longest lifetime the certificate may have, from 3600 (one
	// hour) to 7862400 (91 days; 86400 for signers of kubernetes.io). The signer may issue
	// shorter ones. Unset: the API server's default of 86400 (24 hours).
	//
	// +optional
	// +kubebuilder:validation:Minimum=3600
	// +kubebuilder:validation:Maximum=7862400
	MaxExpirationSeconds *int32 `json:"maxExpirationSeconds,omitempty"`
}

// UpstreamTLSValidation mirrors gateway-api's BackendTLSPolicyValidation, with hostname
// optional (it defaults to the upstream host) and the CA reference group and kind defaulted.
//
// +kubebuilder:validation:XValidation:rule="has(self.caCertificateRefs) != has(self.wellKnownCACertificates)",message="exactly one of caCertificateRefs or wellKnownCACertificates must be set"
type UpstreamTLSValidation struct {
	// caCertificateRefs name the CA certificates the upstream's chain must lead to:
	// ConfigMaps or Secrets in this namespace whose key ca.crt holds them, or
	// ClusterTrustBundles of the cluster (group certificates.k8s.io), by name or by signer and
	// labels. Several are merged.
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

// CACertificateReference names CA certificates: a ConfigMap or Secret of the tenant's
// namespace holding them in PEM under the key ca.crt (group "", kind ConfigMap or Secret), or
// a ClusterTrustBundle of the cluster (group certificates.k8s.io, kind ClusterTrustBundle) by
// name, or every ClusterTrustBundle of a signer whose labels match
// (clusterTrustBundleSelector). ClusterTrustBundles reach the proxy through the kubelet,
// which follows their changes; nothing is copied into the namespace.
//
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.clusterTrustBundleSelector)",message="give exactly one of name and clusterTrustBundleSelector"
// +kubebuilder:validation:XValidation:rule="!has(self.clusterTrustBundleSelector) || (has(self.group) && self.group == 'certificates.k8s.io' && has(self.kind) && self.kind == 'ClusterTrustBundle')",message="clusterTrustBundleSelector selects ClusterTrustBundles: set group certificates.k8s.io and kind ClusterTrustBundle"
// +kubebuilder:validation:XValidation:rule="!has(self.name) || !self.name.contains(':') || (has(self.kind) && self.kind == 'ClusterTrustBundle')",message="name may contain ':' only for a ClusterTrustBundle (a bundle of a signer is named <signer domain>:<signer path>:<suffix>)"
type CACertificateReference struct {
	// group of the referent: "" (the core group) for ConfigMap and Secret,
	// certificates.k8s.io for ClusterTrustBundle.
	//
	// +optional
	Group gwapiv1.Group `json:"group,omitempty"`

	// kind of the referent: ConfigMap (default), Secret or ClusterTrustBundle.
	//
	// +optional
	// +kubebuilder:default=ConfigMap
	Kind gwapiv1.Kind `json:"kind,omitempty"`

	// name of the referent. Required unless clusterTrustBundleSelector is set.
	//
	// +optional
	Name CACertificateRefName `json:"name,omitempty"`

	// clusterTrustBundleSelector selects ClusterTrustBundles by signer and labels instead of
	// by name, as the kubelet's clusterTrustBundle projection does: their certificates are
	// merged, and bundles the signer adds or removes reach the proxy without a change here.
	//
	// +optional
	ClusterTrustBundleSelector *ClusterTrustBundleSelector `json:"clusterTrustBundleSelector,omitempty"`
}

// CACertificateRefName is the name of the object of a CA certificate reference: a DNS
// subdomain; a ClusterTrustBundle of a signer also has ':' in its name
// (<signer domain>:<signer path>:<suffix>).
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$`
type CACertificateRefName string

// ClusterTrustBundleSelector selects the ClusterTrustBundles of a signer.
type ClusterTrustBundleSelector struct {
	// signerName is the signer whose ClusterTrustBundles to trust, e.g. example.com/upstreams
	// (its bundles are named example.com:upstreams:<suffix>).
	//
	// +required
	SignerName SignerName `json:"signerName"`

	// labelSelector narrows the signer's bundles to those whose labels match. Unset: every
	// bundle of the signer (where the kubelet's projection would match none).
	//
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
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
