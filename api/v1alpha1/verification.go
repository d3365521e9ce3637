package v1alpha1

// The data path as the operator sees it: each TLS upstream's verification by the proxy (read
// from the proxy pods), and each plain upstream's ready endpoints. docs/tls-upstreams.md has
// every reason with its fix.

// ConditionVerified is a condition of each TLS upstream (status.upstreams[].conditions): True
// when the proxy replicas loaded the upstream's TLS material and verified the upstream's
// certificate with the tenant's settings (an active TLS handshake, no request, or real
// traffic), False with the reason when they could not, Unknown while no proxy replica has
// reported. The material the operator cannot read (a Secret, a pod certificate) is judged
// from the replicas' reports: InvalidClientCertificate, InvalidCACertificateRef,
// NoValidCACertificate or CertificateExpired. A False Verified makes the upstream's and the
// tenant's Ready False with the same reason; while it is Unknown, an upstream with such
// material is Unknown too (nobody has checked it), others stay Ready. Once True, it turns
// False only on a confirmed failure (the proxy checked twice, or the material is wrong),
// never on a single failed handshake.
const ConditionVerified = "Verified"

// Reasons of the Verified condition. The failure reasons name the proxy's reasons
// (docs/proxy.md) in CamelCase; CertificateExpired is shared with the certificate checks of
// ResolvedRefs.
const (
	// ReasonVerified: every proxy replica that reported verified the upstream.
	ReasonVerified = "Verified"

	// ReasonAwaitingProxyReport (Unknown): no proxy replica has reported on the upstream
	// yet, with the current configuration. It does not make Ready False; for an upstream
	// whose Secret or pod certificate only the proxy checks, it makes the upstream's Ready
	// and the tenant's ResolvedRefs and Ready Unknown with this reason.
	ReasonAwaitingProxyReport = "AwaitingProxyReport"

	// ReasonProxyUnreachable (Unknown): the operator cannot read the proxy replicas' state
	// on their admin port. Check NetworkPolicies between the operator's namespace and the
	// tenant's (the operator writes one that admits it to the admin port only).
	ReasonProxyUnreachable = "ProxyUnreachable"

	// ReasonUnknownAuthority: the upstream's chain does not lead to a CA of the tenant's CA
	// bundle, or the upstream does not send its intermediates. Add the issuing root to the
	// referenced CA ConfigMap or Secret, or make the upstream serve its full chain.
	ReasonUnknownAuthority = "UnknownAuthority"

	// ReasonHostnameMismatch: the upstream certificate has no subjectAltName matching the
	// expected name (validation.hostname, else the host) or any of
	// validation.subjectAltNames. A certificate with only a common name (CN) always fails:
	// reissue it with the name as a DNS SAN.
	ReasonHostnameMismatch = "HostnameMismatch"

	// ReasonCertificateNotYetValid: a certificate of the upstream's chain is not valid yet.
	// Check the clocks, or reissue it with a correct start.
	ReasonCertificateNotYetValid = "CertificateNotYetValid"

	// ReasonChainTooDeep: the upstream's chain has more intermediates below a trusted CA
	// than verifyDepth allows. Raise verifyDepth, or trust the intermediate.
	ReasonChainTooDeep = "ChainTooDeep"

	// ReasonBadKeyUsage: the upstream's certificate does not allow server authentication
	// (extended key usage clientAuth only, typically a client certificate served by mistake).
	// Serve a certificate with the serverAuth extended key usage, or none.
	ReasonBadKeyUsage = "BadKeyUsage"

	// ReasonClientCertificateRejected: the upstream refused the client certificate, or
	// requires one and clientCertificateRef is not set. Have it signed by a CA the upstream
	// trusts, with clientAuth usage, not expired.
	ReasonClientCertificateRejected = "ClientCertificateRejected"

	// ReasonProtocolVersion: the upstream and the proxy have no TLS version in common
	// (minVersion). Lower minVersion or upgrade the upstream.
	ReasonProtocolVersion = "ProtocolVersion"

	// ReasonUpstreamNotTLS: the upstream answers in plain text on that port. Use its TLS
	// port, or remove tls from the upstream.
	ReasonUpstreamNotTLS = "UpstreamNotTLS"

	// ReasonConnectFailed: the proxy cannot connect to the upstream: no ready pods behind
	// the Service, a wrong port, or a NetworkPolicy of the tenant's own in the way.
	ReasonConnectFailed = "ConnectFailed"

	// ReasonTimeout: the upstream did not complete the connection and TLS handshake in
	// time; often something other than TLS listens on the port.
	ReasonTimeout = "Timeout"

	// ReasonHandshakeFailed: the TLS handshake failed otherwise (no common cipher suite, a
	// malformed certificate); the message has the TLS error.
	ReasonHandshakeFailed = "HandshakeFailed"

	// ReasonVerificationFailed: a failure the operator does not know by name (a newer
	// proxy); the message has the proxy's words.
	ReasonVerificationFailed = "VerificationFailed"

	// ReasonReplicasDisagree: the proxy replicas report different results (for example one
	// still holds old files, or the upstream's pods serve different certificates). The
	// message lists each replica's result.
	ReasonReplicasDisagree = "ReplicasDisagree"
)

// ReasonNoReadyEndpoints is the reason of a plain upstream's Ready condition when its
// Service has no ready endpoints: the NetworkPolicy is in place, but the gateway's requests
// fail until a pod is ready. A warning: Ready stays True and nothing is removed.
const ReasonNoReadyEndpoints = "NoReadyEndpoints"
