package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// ValidityError: the upstream's leaf certificate is outside its validity window.
type ValidityError struct {
	Subject             string
	NotBefore, NotAfter time.Time
	Now                 time.Time
	NotYetValid         bool
}

func (e *ValidityError) Error() string {
	if e.NotYetValid {
		return fmt.Sprintf("upstream certificate %q is not valid before %s (now %s)",
			e.Subject, e.NotBefore.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("upstream certificate %q expired at %s (now %s)",
		e.Subject, e.NotAfter.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
}

// ChainTooDeepError: every verified chain has more intermediates than verifyDepth.
type ChainTooDeepError struct {
	Intermediates, Max int
}

func (e *ChainTooDeepError) Error() string {
	return fmt.Sprintf("upstream certificate chain has %d intermediate(s), verifyDepth allows %d",
		e.Intermediates, e.Max)
}

// NameMismatchError: the leaf matches none of the configured subjectAltNames.
type NameMismatchError struct {
	Want []string
	Have []string
}

func (e *NameMismatchError) Error() string {
	return fmt.Sprintf("upstream certificate names [%s] match none of subjectAltNames [%s]",
		strings.Join(e.Have, ", "), strings.Join(e.Want, ", "))
}

// UnknownAuthorityError: the upstream's chain does not lead to a trusted CA. It names the
// issuer that was not found and how many certificates the upstream sent, since a server
// sending only its leaf (OpenSSL's -cert without the chain) is the common mistake.
type UnknownAuthorityError struct {
	Subject     string // of the leaf
	Issuer      string // the issuer that is not in the CA bundle
	Sent        int    // certificates the upstream sent
	NoCABundle  bool   // no CA bundle has loaded yet
	x509Problem error
}

func (e *UnknownAuthorityError) Error() string {
	if e.NoCABundle {
		return fmt.Sprintf("no CA bundle loaded: cannot verify the upstream certificate %q (see /readyz for the CA files that do not load)", e.Subject)
	}
	msg := fmt.Sprintf("upstream certificate chain of %q ends at issuer %q, which is not in the CA bundle; the upstream sent %d certificate(s)",
		e.Subject, e.Issuer, e.Sent)
	if e.Sent == 1 && e.Subject != e.Issuer {
		msg += " (only its leaf: it should also send its intermediates)"
	}
	return msg
}

func (e *UnknownAuthorityError) Unwrap() error { return e.x509Problem }

// KeyUsageError: the upstream certificate's extended key usage does not allow server
// authentication.
type KeyUsageError struct {
	Subject string
	Usages  []string
}

func (e *KeyUsageError) Error() string {
	return fmt.Sprintf("upstream certificate %q is not for server authentication (extended key usage: %s)",
		e.Subject, strings.Join(e.Usages, ", "))
}

var errNoPeerCertificate = errors.New("upstream sent no certificate")

// verifier checks an upstream's certificate in tls.Config.VerifyConnection. crypto/tls has
// no hook for changing root CAs, so the client config sets InsecureSkipVerify (which only
// turns off crypto/tls's own check) and this does the whole verification against the pool
// loaded atomically at each handshake: chain, validity, depth, then name. It runs for
// resumed sessions too, so a CA change applies to them.
type verifier struct {
	roots      *atomic.Pointer[x509.CertPool]
	serverName string
	sans       []contract.SubjectAltName
	maxDepth   int // -1: no limit
	now        func() time.Time
}

func newVerifier(roots *atomic.Pointer[x509.CertPool], t *contract.UpstreamTLS, now func() time.Time) *verifier {
	v := &verifier{roots: roots, serverName: t.ServerName, sans: t.SubjectAltNames, maxDepth: -1, now: now}
	if t.VerifyDepth != nil {
		v.maxDepth = *t.VerifyDepth
	}
	return v
}

func (v *verifier) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errNoPeerCertificate
	}
	leaf := cs.PeerCertificates[0]
	now := v.now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return &ValidityError{Subject: leaf.Subject.String(), NotBefore: leaf.NotBefore,
			NotAfter: leaf.NotAfter, Now: now, NotYetValid: now.Before(leaf.NotBefore)}
	}
	roots := v.roots.Load()
	if roots == nil || roots.Equal(emptyPool) { // never loaded: fail closed, never the system pool
		return &UnknownAuthorityError{Subject: leaf.Subject.String(), Sent: len(cs.PeerCertificates),
			NoCABundle: true, x509Problem: x509.UnknownAuthorityError{Cert: leaf}}
	}
	intermediates := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		intermediates.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return explain(err, cs.PeerCertificates)
	}
	if err := v.checkDepth(chains); err != nil {
		return err
	}
	return v.checkName(leaf)
}

// emptyPool is what an upstream trusts before its first CA bundle loads.
var emptyPool = x509.NewCertPool()

// explain turns crypto/x509's unknown authority and key usage errors into ours, which say
// what to fix.
func explain(err error, sent []*x509.Certificate) error {
	leaf := sent[0]
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		// Follow the chain the upstream sent as far as it goes; its last issuer is missing.
		last := leaf
		for range sent {
			next := false
			for _, c := range sent[1:] {
				if c != last && bytes.Equal(c.RawSubject, last.RawIssuer) {
					last, next = c, true
					break
				}
			}
			if !next {
				break
			}
		}
		return &UnknownAuthorityError{Subject: leaf.Subject.String(), Issuer: last.Issuer.String(),
			Sent: len(sent), x509Problem: err}
	}
	if ci, ok := errors.AsType[x509.CertificateInvalidError](err); ok && ci.Reason == x509.IncompatibleUsage {
		usages := make([]string, 0, len(leaf.ExtKeyUsage))
		for _, u := range leaf.ExtKeyUsage {
			usages = append(usages, extKeyUsageName(u))
		}
		return &KeyUsageError{Subject: leaf.Subject.String(), Usages: usages}
	}
	return err
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageAny:
		return "any"
	}
	return fmt.Sprintf("usage %d", u)
}

// checkDepth passes when one verified chain has at most maxDepth intermediates. A chain is
// leaf, intermediates..., trust anchor; the anchor and the leaf do not count (OpenSSL's
// verify depth as Kong uses it).
func (v *verifier) checkDepth(chains [][]*x509.Certificate) error {
	if v.maxDepth < 0 {
		return nil
	}
	fewest := -1
	for _, chain := range chains {
		n := max(len(chain)-2, 0)
		if n <= v.maxDepth {
			return nil
		}
		if fewest < 0 || n < fewest {
			fewest = n
		}
	}
	return &ChainTooDeepError{Intermediates: fewest, Max: v.maxDepth}
}

// checkName applies the hostname check, or the subjectAltNames list when one is set (any
// one match passes; Gateway API BackendTLSPolicy semantics).
func (v *verifier) checkName(leaf *x509.Certificate) error {
	if len(v.sans) == 0 {
		return leaf.VerifyHostname(v.serverName)
	}
	want := make([]string, 0, len(v.sans))
	for _, san := range v.sans {
		switch san.Type {
		case contract.SubjectAltNameHostname:
			if leaf.VerifyHostname(san.Hostname) == nil {
				return nil
			}
			want = append(want, "DNS:"+san.Hostname)
		case contract.SubjectAltNameURI:
			for _, u := range leaf.URIs {
				if u.String() == san.URI {
					return nil
				}
			}
			want = append(want, "URI:"+san.URI)
		}
	}
	have := make([]string, 0, len(leaf.DNSNames)+len(leaf.URIs))
	for _, d := range leaf.DNSNames {
		have = append(have, "DNS:"+d)
	}
	for _, u := range leaf.URIs {
		have = append(have, "URI:"+u.String())
	}
	return &NameMismatchError{Want: want, Have: have}
}
