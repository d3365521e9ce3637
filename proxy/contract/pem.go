package contract

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Certificate files as the proxy loads them. The operator checks CA bundles and client
// certificate Secrets with the same functions, so that it accepts exactly what the proxy
// loads.

// ParseCertificates reads every CERTIFICATE block of a PEM bundle; other blocks are ignored.
// It fails when there is none or one does not parse. The operator checks CA bundles with it,
// so that it accepts exactly what the proxy loads.
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
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// ParseClientCertificate parses a PEM certificate chain and the matching private key, as the
// proxy loads a client certificate, and returns the pair with its leaf and the parsed chain.
// The operator checks client certificate Secrets with it, so that it accepts exactly what the
// proxy loads.
func ParseClientCertificate(certPEM, keyPEM []byte) (*tls.Certificate, []*x509.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	chain := make([]*x509.Certificate, 0, len(cert.Certificate))
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, c)
	}
	cert.Leaf = chain[0]
	return &cert, chain, nil
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
