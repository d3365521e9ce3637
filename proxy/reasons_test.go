package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
)

func TestClassify(t *testing.T) {
	remote := func(alert uint8) error {
		return &net.OpError{Op: "remote error", Err: errors.New(tls.AlertError(alert).Error())}
	}
	wrap := func(err error) error { return fmt.Errorf("net/http: %w", err) }
	cases := []struct {
		err  error
		want Reason
	}{
		{&ValidityError{}, ReasonExpired},
		{&ValidityError{NotYetValid: true}, ReasonNotYetValid},
		{wrap(&ChainTooDeepError{Intermediates: 2, Max: 1}), ReasonChainTooDeep},
		{&NameMismatchError{}, ReasonHostnameMismatch},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "a"}, ReasonHostnameMismatch},
		{wrap(x509.UnknownAuthorityError{}), ReasonUnknownAuthority},
		{x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time X is after Y"}, ReasonExpired},
		{x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time X is before Y"}, ReasonNotYetValid},
		{x509.CertificateInvalidError{Reason: x509.TooManyIntermediates}, ReasonChainTooDeep},
		{x509.CertificateInvalidError{Reason: x509.IncompatibleUsage}, ReasonBadKeyUsage},
		{remote(42), ReasonClientCertificateRejected}, // bad_certificate
		{remote(48), ReasonClientCertificateRejected}, // unknown_ca
		{wrap(remote(116)), ReasonClientCertificateRejected},
		{remote(70), ReasonProtocolVersion},
		{remote(40), ReasonHandshakeFailed},
		{remote(80), ReasonHandshakeFailed}, // internal_error
		{errors.New("tls: server selected unsupported protocol version 301"), ReasonProtocolVersion},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ReasonUpstreamNotTLS},
		{wrap(context.DeadlineExceeded), ReasonTimeout},
		{&net.DNSError{Err: "no such host", Name: "a.svc", IsNotFound: true}, ReasonConnectFailed},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, ReasonConnectFailed},
		{io.ErrUnexpectedEOF, ""},
	}
	for _, tc := range cases {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%T %v) = %q, want %q", tc.err, tc.err, got, tc.want)
		}
	}
}

// TestReasonsDocumented: every reason has a message and is listed in docs/proxy.md.
func TestReasonsDocumented(t *testing.T) {
	doc := readDoc(t)
	for _, r := range append(HandshakeFailureReasons, ReasonUpstreamError, ReasonClosedUnconfirmed) {
		if r.Message() == string(r) {
			t.Errorf("reason %s has no message", r)
		}
		if !containsLine(doc, "`"+string(r)+"`") {
			t.Errorf("reason %s is not documented in docs/proxy.md", r)
		}
	}
}
