package contract

// Reason says why the proxy could not forward a request. It is the "reason" of the JSON
// 502 answer and the reason label of gatewaytenant_proxy_upstream_handshake_failures_total.
type Reason string

// Reasons of a failed upstream connection. All but ReasonUpstreamError are handshake
// failures: the request was never sent.
const (
	// ReasonUnknownAuthority: the upstream chain does not lead to a trusted CA.
	ReasonUnknownAuthority Reason = "unknown_authority"
	// ReasonHostnameMismatch: the certificate matches neither serverName nor any of
	// subjectAltNames.
	ReasonHostnameMismatch Reason = "hostname_mismatch"
	// ReasonExpired: a certificate of the chain is past its notAfter.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: a certificate of the chain is before its notBefore.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonChainTooDeep: more intermediates than verifyDepth allows.
	ReasonChainTooDeep Reason = "chain_too_deep"
	// ReasonClientCertificateRejected: the upstream refused the client certificate, or
	// required one and none is configured or loaded.
	ReasonClientCertificateRejected Reason = "client_certificate_rejected"
	// ReasonProtocolVersion: no TLS version both sides accept (see minVersion).
	ReasonProtocolVersion Reason = "protocol_version"
	// ReasonConnectFailed: no TCP connection (refused, unreachable, name not found).
	ReasonConnectFailed Reason = "connect_failed"
	// ReasonHandshakeFailed: the TLS handshake failed for another reason (cipher suites,
	// curves, a malformed certificate, the upstream closing the connection).
	ReasonHandshakeFailed Reason = "handshake_failed"
	// ReasonUpstreamNotTLS: the upstream answered in plain text (typically plain HTTP).
	ReasonUpstreamNotTLS Reason = "upstream_not_tls"
	// ReasonTimeout: connect, handshake or response headers took too long.
	ReasonTimeout Reason = "timeout"
	// ReasonBadKeyUsage: the upstream certificate's extended key usage does not allow
	// server authentication (for example a client certificate served by mistake).
	ReasonBadKeyUsage Reason = "bad_key_usage"
	// ReasonClosedUnconfirmed: the upstream closed a TLS 1.3 connection on which it had
	// asked for a client certificate, without a word (no alert, no answer) after the
	// request was sent: it either refused the certificate or its application closed the
	// connection. The request may have reached the upstream. Not a handshake failure.
	ReasonClosedUnconfirmed Reason = "closed_unconfirmed"
	// ReasonUpstreamError: the connection was verified but the exchange failed afterwards
	// (reset, malformed response). Not a handshake failure.
	ReasonUpstreamError Reason = "upstream_error"
)

// HandshakeFailureReasons lists the reasons counted as handshake failures.
var HandshakeFailureReasons = []Reason{
	ReasonUnknownAuthority, ReasonHostnameMismatch, ReasonExpired, ReasonNotYetValid,
	ReasonChainTooDeep, ReasonClientCertificateRejected, ReasonProtocolVersion,
	ReasonConnectFailed, ReasonHandshakeFailed, ReasonUpstreamNotTLS, ReasonTimeout,
	ReasonBadKeyUsage,
}

var reasonMessages = map[Reason]string{
	ReasonUnknownAuthority:          "the upstream certificate is not signed by a trusted certificate authority",
	ReasonHostnameMismatch:          "the upstream certificate does not match the expected name",
	ReasonExpired:                   "the upstream certificate has expired",
	ReasonNotYetValid:               "the upstream certificate is not valid yet",
	ReasonChainTooDeep:              "the upstream certificate chain has more intermediates than allowed",
	ReasonClientCertificateRejected: "the upstream rejected the client certificate",
	ReasonProtocolVersion:           "the upstream does not support an acceptable TLS version",
	ReasonConnectFailed:             "could not connect to the upstream",
	ReasonHandshakeFailed:           "the TLS handshake with the upstream failed",
	ReasonUpstreamNotTLS:            "the upstream does not speak TLS",
	ReasonTimeout:                   "the upstream did not answer in time",
	ReasonBadKeyUsage:               "the upstream certificate is not allowed for server authentication (extended key usage)",
	ReasonClosedUnconfirmed:         "the upstream closed the connection before confirming the client certificate; the request may have reached it",
	ReasonUpstreamError:             "the upstream connection failed",
	ReasonBadRequest:                "the request is malformed or its framing is ambiguous (RFC 9112)",
	ReasonUnsupportedTransferCoding: "the request's Transfer-Encoding is not exactly \"chunked\"",
	ReasonMalformedChunkedBody:      "the request's chunked body is malformed (RFC 9112 section 7.1)",
	ReasonRequestHeaderTooLarge:     "the request head is larger than 64 KiB",
	ReasonIncompleteRequestBody:     "the request body ended before its announced end",
}

// Message is a one-line explanation of the reason for people.
func (r Reason) Message() string {
	if m, ok := reasonMessages[r]; ok {
		return m
	}
	return string(r)
}

// Reasons of a request refused for the client's (the gateway's) fault. They are the
// "reason" of the 400, 431 or 501 answer and the reason label of
// gatewaytenant_proxy_client_errors_total, and never count as upstream failures.
const (
	// ReasonBadRequest: the request head is malformed or its framing is ambiguous.
	ReasonBadRequest Reason = "bad_request"
	// ReasonUnsupportedTransferCoding: a Transfer-Encoding other than exactly "chunked" (501).
	ReasonUnsupportedTransferCoding Reason = "unsupported_transfer_coding"
	// ReasonMalformedChunkedBody: the chunked request body breaks RFC 9112 section 7.1.
	ReasonMalformedChunkedBody Reason = "malformed_chunked_body"
	// ReasonRequestHeaderTooLarge: the request head is over 64 KiB (431).
	ReasonRequestHeaderTooLarge Reason = "request_header_too_large"
	// ReasonIncompleteRequestBody: the gateway closed the connection, or stopped sending,
	// before the end of the request body; what was forwarded of it is abandoned.
	ReasonIncompleteRequestBody Reason = "incomplete_request_body"
)

// ClientErrorReasons lists the reasons of requests refused for the gateway's fault.
var ClientErrorReasons = []Reason{
	ReasonBadRequest, ReasonUnsupportedTransferCoding, ReasonMalformedChunkedBody,
	ReasonRequestHeaderTooLarge, ReasonIncompleteRequestBody,
}
