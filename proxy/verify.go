package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
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

var errNoPeerCertificate = errors.New("upstream sent no certificate")

// verifier checks an upstream's certificate in tls.Config.VerifyConnection. crypto/tls has
// no hook for changing root CAs, so the client config sets InsecureSkipVerify (which only
// turns off crypto/tls's own check) and this does the whole verification against the pool
// loaded atomically at each handshake: chain, validity, depth, then name. It runs for
// resumed sessions too, so a CA change applies to them.
type verifier struct {
	roots      *atomic.Pointer[x509.CertPool]
	serverName string
	sans       []SubjectAltName
	maxDepth   int // -1: no limit
	now        func() time.Time
}

func newVerifier(roots *atomic.Pointer[x509.CertPool], t *UpstreamTLS, now func() time.Time) *verifier {
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
	if roots == nil { // never loaded: fail closed, never fall back to the system pool
		return x509.UnknownAuthorityError{Cert: leaf}
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
		return err
	}
	if err := v.checkDepth(chains); err != nil {
		return err
	}
	return v.checkName(leaf)
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
		case SubjectAltNameHostname:
			if leaf.VerifyHostname(san.Hostname) == nil {
				return nil
			}
			want = append(want, "DNS:"+san.Hostname)
		case SubjectAltNameURI:
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

// tlsVersion maps minVersion to a crypto/tls constant; "" is the default.
func tlsVersion(s string) (uint16, error) {
	switch s {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("must be \"1.2\" or \"1.3\", got %q", s)
}
