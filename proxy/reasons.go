package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
)

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
	// ReasonUpstreamError: the connection was verified but the exchange failed afterwards
	// (reset, malformed response). Not a handshake failure.
	ReasonUpstreamError Reason = "upstream_error"
)

// HandshakeFailureReasons lists the reasons counted as handshake failures.
var HandshakeFailureReasons = []Reason{
	ReasonUnknownAuthority, ReasonHostnameMismatch, ReasonExpired, ReasonNotYetValid,
	ReasonChainTooDeep, ReasonClientCertificateRejected, ReasonProtocolVersion,
	ReasonConnectFailed, ReasonHandshakeFailed, ReasonUpstreamNotTLS, ReasonTimeout,
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
	ReasonUpstreamError:             "the upstream connection failed",
}

// Message is a one-line explanation of the reason for people.
func (r Reason) Message() string {
	if m, ok := reasonMessages[r]; ok {
		return m
	}
	return string(r)
}

// remoteAlertReasons maps alerts sent by the upstream. We verify the upstream ourselves,
// so a certificate alert from it is about our client certificate.
var remoteAlertReasons = func() map[string]Reason {
	m := map[string]Reason{}
	for _, code := range []uint8{42, 43, 44, 45, 46, 48, 49, 116} {
		m[tls.AlertError(code).Error()] = ReasonClientCertificateRejected
	}
	m[tls.AlertError(70).Error()] = ReasonProtocolVersion  // protocol_version
	m[tls.AlertError(71).Error()] = ReasonProtocolVersion  // insufficient_security
	m[tls.AlertError(40).Error()] = ReasonHandshakeFailed  // handshake_failure
	m[tls.AlertError(112).Error()] = ReasonHandshakeFailed // unrecognized_name
	return m
}()

// classify maps an error of a connection attempt or round trip to a Reason. It returns ""
// when the error says nothing specific; callers choose the fallback.
func classify(err error) Reason {
	if r := classifyCertificate(err); r != "" {
		return r
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return ReasonUpstreamNotTLS
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "remote error" && op.Err != nil {
		if r, ok := remoteAlertReasons[op.Err.Error()]; ok {
			return r
		}
		return ReasonHandshakeFailed
	}
	msg := err.Error()
	if strings.Contains(msg, "tls: server selected unsupported protocol version") ||
		strings.Contains(msg, "tls: no supported versions") {
		return ReasonProtocolVersion
	}
	if isTimeout(err) {
		return ReasonTimeout
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return ReasonConnectFailed
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return ReasonConnectFailed
	}
	return ""
}

// classifyCertificate recognises our own verification errors and crypto/x509's.
func classifyCertificate(err error) Reason {
	if ve, ok := errors.AsType[*ValidityError](err); ok {
		if ve.NotYetValid {
			return ReasonNotYetValid
		}
		return ReasonExpired
	}
	if _, ok := errors.AsType[*ChainTooDeepError](err); ok {
		return ReasonChainTooDeep
	}
	if _, ok := errors.AsType[*NameMismatchError](err); ok {
		return ReasonHostnameMismatch
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return ReasonHostnameMismatch
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return ReasonUnknownAuthority
	}
	if ci, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		switch ci.Reason {
		case x509.Expired:
			if strings.Contains(ci.Detail, "before") {
				return ReasonNotYetValid
			}
			return ReasonExpired
		case x509.TooManyIntermediates:
			return ReasonChainTooDeep
		}
		return ReasonHandshakeFailed
	}
	return ""
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
