package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

func TestClassify(t *testing.T) {
	remote := func(alert uint8) error {
		return &net.OpError{Op: "remote error", Err: errors.New(tls.AlertError(alert).Error())}
	}
	wrap := func(err error) error { return fmt.Errorf("net/http: %w", err) }
	cases := []struct {
		err  error
		want contract.Reason
	}{
		{&ValidityError{}, contract.ReasonExpired},
		{&ValidityError{NotYetValid: true}, contract.ReasonNotYetValid},
		{wrap(&ChainTooDeepError{Intermediates: 2, Max: 1}), contract.ReasonChainTooDeep},
		{&NameMismatchError{}, contract.ReasonHostnameMismatch},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "a"}, contract.ReasonHostnameMismatch},
		{wrap(x509.UnknownAuthorityError{}), contract.ReasonUnknownAuthority},
		{x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time X is after Y"}, contract.ReasonExpired},
		{x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time X is before Y"}, contract.ReasonNotYetValid},
		{x509.CertificateInvalidError{Reason: x509.TooManyIntermediates}, contract.ReasonChainTooDeep},
		{x509.CertificateInvalidError{Reason: x509.IncompatibleUsage}, contract.ReasonBadKeyUsage},
		{remote(42), contract.ReasonClientCertificateRejected}, // bad_certificate
		{remote(48), contract.ReasonClientCertificateRejected}, // unknown_ca
		{wrap(remote(116)), contract.ReasonClientCertificateRejected},
		{remote(70), contract.ReasonProtocolVersion},
		{remote(40), contract.ReasonHandshakeFailed},
		{remote(80), contract.ReasonHandshakeFailed}, // internal_error
		{errors.New("tls: server selected unsupported protocol version 301"), contract.ReasonProtocolVersion},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, contract.ReasonUpstreamNotTLS},
		{wrap(context.DeadlineExceeded), contract.ReasonTimeout},
		{&net.DNSError{Err: "no such host", Name: "a.svc", IsNotFound: true}, contract.ReasonConnectFailed},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, contract.ReasonConnectFailed},
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
	reasons := slices.Concat(contract.HandshakeFailureReasons, contract.ClientErrorReasons,
		[]contract.Reason{contract.ReasonUpstreamError, contract.ReasonClosedUnconfirmed})
	for _, r := range reasons {
		if r.Message() == string(r) {
			t.Errorf("reason %s has no message", r)
		}
		if !containsLine(doc, "`"+string(r)+"`") {
			t.Errorf("reason %s is not documented in docs/proxy.md", r)
		}
	}
}
