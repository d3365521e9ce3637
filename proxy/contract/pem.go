package contract

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Certificate files as the proxy loads them. The operator checks the CA bundles it can read
// (ConfigMaps, ClusterTrustBundles) with the same functions, so that it accepts exactly what
// the proxy loads; what it cannot read (Secrets, pod certificates) the proxy checks and
// reports (MaterialState). Every failure is a *MaterialError whose Problem says what kind.

// MaterialError is a certificate or key that does not load, with the kind of problem.
type MaterialError struct {
	Problem MaterialProblem
	Err     error
}

func (e *MaterialError) Error() string { return e.Err.Error() }
func (e *MaterialError) Unwrap() error { return e.Err }

func materialErrorf(p MaterialProblem, format string, args ...any) error {
	return &MaterialError{Problem: p, Err: fmt.Errorf(format, args...)}
}

// ProblemOf is the problem of a load error: that of a *MaterialError, MaterialMissing for a
// file that does not exist, MaterialUnreadable otherwise.
func ProblemOf(err error) MaterialProblem {
	if me, ok := errors.AsType[*MaterialError](err); ok {
		return me.Problem
	}
	if errors.Is(err, fs.ErrNotExist) {
		return MaterialMissing
	}
	return MaterialUnreadable
}

// ParseCertificates reads every CERTIFICATE block of a PEM bundle; other blocks are ignored.
// It fails (MaterialNotPEM) when there is none or one does not parse.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, materialErrorf(MaterialNotPEM, "certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, materialErrorf(MaterialNotPEM, "no PEM certificate found")
	}
	return out, nil
}

// ParseCABundle reads a bundle of CA certificates as ParseCertificates does, and refuses
// (MaterialNotCA) a certificate that is not a CA (basicConstraints without CA:TRUE): trusting
// the upstream's own certificate instead of the CA that issued it is a mistake, not a policy.
func ParseCABundle(data []byte) ([]*x509.Certificate, error) {
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return certs, materialErrorf(MaterialNotCA, "certificate %q is not a CA certificate (its basicConstraints do not say CA:TRUE); "+
				"give the CA that signed the upstream's certificate, not the upstream's own certificate", c.Subject.CommonName)
		}
	}
	return certs, nil
}

// ParseClientCertificate parses a PEM certificate chain and the matching private key, as the
// proxy loads a client certificate (a kubernetes.io/tls Secret's tls.crt and tls.key), and
// returns the pair with its leaf and the parsed chain.
func ParseClientCertificate(certPEM, keyPEM []byte) (*tls.Certificate, []*x509.Certificate, error) {
	chain, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, nil, err
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	return keyPair(chain, key)
}

// ParseCredentialBundle parses a credential bundle as the kubelet writes it for a pod
// certificate (projected podCertificate, credentialBundlePath): first a PRIVATE KEY block
// (PKCS#8), then the certificate chain, leaf first. One file, written atomically, so key and
// chain always belong together.
func ParseCredentialBundle(data []byte) (*tls.Certificate, []*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, nil, materialErrorf(MaterialNotPEM, "a credential bundle starts with a PEM PRIVATE KEY block (PKCS#8), then the certificate chain")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, materialErrorf(MaterialNotPEM, "private key: %w", err)
	}
	chain, err := ParseCertificates(rest)
	if err != nil {
		return nil, nil, err
	}
	return keyPair(chain, key)
}

// parsePrivateKey reads the first private key block of PEM data, in any form Go's
// tls.X509KeyPair accepts (PKCS#8, PKCS#1, SEC 1).
func parsePrivateKey(data []byte) (crypto.PrivateKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, materialErrorf(MaterialNotPEM, "no PEM private key found")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, materialErrorf(MaterialNotPEM, "private key: %w", err)
			}
			return k, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, materialErrorf(MaterialNotPEM, "private key: %w", err)
			}
			return k, nil
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, materialErrorf(MaterialNotPEM, "private key: %w", err)
			}
			return k, nil
		}
	}
}

// keyPair makes the tls.Certificate of a chain and its key, refusing (MaterialKeyMismatch) a
// key that is not the leaf's.
func keyPair(chain []*x509.Certificate, key crypto.PrivateKey) (*tls.Certificate, []*x509.Certificate, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, materialErrorf(MaterialNotPEM, "private key of type %T cannot sign", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, nil, materialErrorf(MaterialKeyMismatch, "private key does not match public key of certificate %q", chain[0].Subject.CommonName)
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, chain, nil
}

// EarliestNotAfter is the soonest notAfter of certs; zero when there are none.
func EarliestNotAfter(certs []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range certs {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}
