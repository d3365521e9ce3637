package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"syscall"
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

// failureStage is where an upstream failure happened.
type failureStage int

const (
	stageConnect   failureStage = iota // TCP connect
	stageHandshake                     // TLS handshake, verification included
	stageVerdict                       // TLS 1.3 with a client certificate: before the first request
	stageExchange                      // request and response on a verified connection
)

// connFacts is what is known of the connection a failure happened on.
type connFacts struct {
	certRequested bool // the upstream asked for a client certificate
	tls13         bool
	heardBack     bool // the upstream sent something after the handshake (ticket, alert, answer)
}

// classifyFailure is the one mapping of an upstream failure to a Reason, for connection
// attempts (the request path's and the active verification's) and for exchanges on
// verified connections. It never returns "".
func classifyFailure(err error, stage failureStage, c connFacts) Reason {
	reason := classify(err)
	switch stage {
	case stageConnect:
		if reason != ReasonTimeout {
			reason = ReasonConnectFailed
		}
	case stageHandshake:
		switch {
		case reason == "" || reason == ReasonConnectFailed:
			reason = ReasonHandshakeFailed
		case reason == ReasonHandshakeFailed && c.certRequested:
			// TLS 1.2 servers answer a missing or unacceptable client certificate with a
			// generic handshake_failure alert (RFC 5246 7.4.6).
			reason = ReasonClientCertificateRejected
		}
	case stageVerdict:
		// Closed or reset before any request was sent: the upstream refused our certificate.
		if reason == "" || reason == ReasonConnectFailed || reason == ReasonHandshakeFailed {
			reason = ReasonClientCertificateRejected
		}
	case stageExchange:
		switch {
		case reason != "" && reason != ReasonConnectFailed:
			// a TLS alert (with TLS 1.3 the verdict on our certificate comes after our side
			// of the handshake) or a timeout
		case c.tls13 && c.certRequested && !c.heardBack:
			// Closed without a word: a refusal of our certificate (its alert lost in a reset,
			// or never sent) or the application closing the connection. Unknowable.
			reason = ReasonClosedUnconfirmed
		default:
			reason = ReasonUpstreamError
		}
	}
	return reason
}

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
	if _, ok := errors.AsType[*KeyUsageError](err); ok {
		return ReasonBadKeyUsage
	}
	if _, ok := errors.AsType[*UnknownAuthorityError](err); ok {
		return ReasonUnknownAuthority
	}
	if ci, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		switch ci.Reason {
		case x509.IncompatibleUsage:
			return ReasonBadKeyUsage
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

// describe says what happened in words for a log line, without the inner names of Go's
// HTTP client ("readLoopPeekFailLocked", "persistConn") or socket addresses.
func describe(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the upstream closed the connection"
	case errors.Is(err, syscall.ECONNRESET):
		return "the upstream reset the connection"
	case errors.Is(err, syscall.EPIPE):
		return "the upstream closed the connection while the request was being sent"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "remote error" && op.Err != nil {
		return "the upstream sent the TLS alert \"" + strings.TrimPrefix(op.Err.Error(), "tls: ") + "\""
	}
	for _, target := range []error{
		(*ValidityError)(nil), (*ChainTooDeepError)(nil), (*NameMismatchError)(nil),
		(*UnknownAuthorityError)(nil), (*KeyUsageError)(nil),
	} {
		if e := asError(err, target); e != nil {
			return e.Error()
		}
	}
	if isTimeout(err) {
		return "timed out"
	}
	return goInternals.Replace(err.Error())
}

// asError finds an error of target's type in err's tree.
func asError(err, target error) error {
	for e := range errorTree(err) {
		if reflect.TypeOf(e) == reflect.TypeOf(target) {
			return e
		}
	}
	return nil
}

func errorTree(err error) func(func(error) bool) {
	return func(yield func(error) bool) {
		var walk func(error) bool
		walk = func(e error) bool {
			if e == nil {
				return true
			}
			if !yield(e) {
				return false
			}
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				return walk(u.Unwrap())
			case interface{ Unwrap() []error }:
				for _, c := range u.Unwrap() {
					if !walk(c) {
						return false
					}
				}
			}
			return true
		}
		walk(err)
	}
}

// plainLog is the ErrorLog of net/http's server and httputil.ReverseProxy: their lines at
// debug level, without the package prefixes and inner function names.
func plainLog(l *slog.Logger) *log.Logger {
	return log.New(plainWriter{l}, "", 0)
}

type plainWriter struct{ l *slog.Logger }

func (w plainWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(goInternals.Replace(string(p)))
	msg = strings.Replace(msg, "ReverseProxy read error during body copy", "reading the upstream's answer failed", 1)
	w.l.Debug(msg)
	return len(p), nil
}

var goInternals = strings.NewReplacer(
	"net/http: HTTP/1.x transport connection broken: ", "",
	"readLoopPeekFailLocked: ", "",
	"net/http: ", "", "httputil: ", "", "http2: ", "", "http: ", "",
)

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
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
