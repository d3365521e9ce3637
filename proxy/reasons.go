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

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// remoteAlertReasons maps alerts sent by the upstream. We verify the upstream ourselves,
// so a certificate alert from it is about our client certificate.
var remoteAlertReasons = func() map[string]contract.Reason {
	m := map[string]contract.Reason{}
	for _, code := range []uint8{42, 43, 44, 45, 46, 48, 49, 116} {
		m[tls.AlertError(code).Error()] = contract.ReasonClientCertificateRejected
	}
	m[tls.AlertError(70).Error()] = contract.ReasonProtocolVersion  // protocol_version
	m[tls.AlertError(71).Error()] = contract.ReasonProtocolVersion  // insufficient_security
	m[tls.AlertError(40).Error()] = contract.ReasonHandshakeFailed  // handshake_failure
	m[tls.AlertError(112).Error()] = contract.ReasonHandshakeFailed // unrecognized_name
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
func classifyFailure(err error, stage failureStage, c connFacts) contract.Reason {
	reason := classify(err)
	switch stage {
	case stageConnect:
		if reason != contract.ReasonTimeout {
			reason = contract.ReasonConnectFailed
		}
	case stageHandshake:
		switch {
		case reason == "" || reason == contract.ReasonConnectFailed:
			reason = contract.ReasonHandshakeFailed
		case reason == contract.ReasonHandshakeFailed && c.certRequested:
			// TLS 1.2 servers answer a missing or unacceptable client certificate with a
			// generic handshake_failure alert (RFC 5246 7.4.6).
			reason = contract.ReasonClientCertificateRejected
		}
	case stageVerdict:
		// Closed or reset before any request was sent: the upstream refused our certificate.
		if reason == "" || reason == contract.ReasonConnectFailed || reason == contract.ReasonHandshakeFailed {
			reason = contract.ReasonClientCertificateRejected
		}
	case stageExchange:
		switch {
		case reason != "" && reason != contract.ReasonConnectFailed:
			// a TLS alert (with TLS 1.3 the verdict on our certificate comes after our side
			// of the handshake) or a timeout
		case c.tls13 && c.certRequested && !c.heardBack:
			// Closed without a word: a refusal of our certificate (its alert lost in a reset,
			// or never sent) or the application closing the connection. Unknowable.
			reason = contract.ReasonClosedUnconfirmed
		default:
			reason = contract.ReasonUpstreamError
		}
	}
	return reason
}

// classify maps an error of a connection attempt or round trip to a Reason. It returns ""
// when the error says nothing specific; callers choose the fallback.
func classify(err error) contract.Reason {
	if r := classifyCertificate(err); r != "" {
		return r
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return contract.ReasonUpstreamNotTLS
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "remote error" && op.Err != nil {
		if r, ok := remoteAlertReasons[op.Err.Error()]; ok {
			return r
		}
		return contract.ReasonHandshakeFailed
	}
	msg := err.Error()
	if strings.Contains(msg, "tls: server selected unsupported protocol version") ||
		strings.Contains(msg, "tls: no supported versions") {
		return contract.ReasonProtocolVersion
	}
	if isTimeout(err) {
		return contract.ReasonTimeout
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return contract.ReasonConnectFailed
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return contract.ReasonConnectFailed
	}
	return ""
}

// classifyCertificate recognises our own verification errors and crypto/x509's.
func classifyCertificate(err error) contract.Reason {
	if ve, ok := errors.AsType[*ValidityError](err); ok {
		if ve.NotYetValid {
			return contract.ReasonNotYetValid
		}
		return contract.ReasonExpired
	}
	if _, ok := errors.AsType[*ChainTooDeepError](err); ok {
		return contract.ReasonChainTooDeep
	}
	if _, ok := errors.AsType[*NameMismatchError](err); ok {
		return contract.ReasonHostnameMismatch
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return contract.ReasonHostnameMismatch
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return contract.ReasonUnknownAuthority
	}
	if _, ok := errors.AsType[*KeyUsageError](err); ok {
		return contract.ReasonBadKeyUsage
	}
	if _, ok := errors.AsType[*UnknownAuthorityError](err); ok {
		return contract.ReasonUnknownAuthority
	}
	if ci, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		switch ci.Reason {
		case x509.IncompatibleUsage:
			return contract.ReasonBadKeyUsage
		case x509.Expired:
			if strings.Contains(ci.Detail, "before") {
				return contract.ReasonNotYetValid
			}
			return contract.ReasonExpired
		case x509.TooManyIntermediates:
			return contract.ReasonChainTooDeep
		}
		return contract.ReasonHandshakeFailed
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
