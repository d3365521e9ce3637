// Package pki makes small certificate hierarchies for tests, benchmarks and the demo: a root
// CA, intermediates, server leaves with DNS/URI/IP SANs, client certificates, and expired or
// not-yet-valid variants. Keys are ECDSA P-256 so that a hierarchy costs milliseconds.
//
// It is not a CA for production use: serial numbers are random, there is no revocation,
// and keys live in memory.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Cert is a certificate with its private key and the certificate that issued it (nil for a
// self-signed root).
type Cert struct {
	Cert   *x509.Certificate
	Key    crypto.Signer
	Issuer *Cert
}

// Option changes the template of a certificate before it is signed.
type Option func(*x509.Certificate)

// DNS adds DNS subject alternative names.
func DNS(names ...string) Option {
	return func(t *x509.Certificate) { t.DNSNames = append(t.DNSNames, names...) }
}

// URI adds URI subject alternative names, for example a SPIFFE ID. It panics on a URI that
// does not parse, which is a bug in the calling test.
func URI(uris ...string) Option {
	return func(t *x509.Certificate) {
		for _, s := range uris {
			u, err := url.Parse(s)
			if err != nil {
				panic(fmt.Sprintf("pki: bad URI %q: %v", s, err))
			}
			t.URIs = append(t.URIs, u)
		}
	}
}

// IP adds IP address subject alternative names.
func IP(ips ...net.IP) Option {
	return func(t *x509.Certificate) { t.IPAddresses = append(t.IPAddresses, ips...) }
}

// Validity sets the validity window.
func Validity(notBefore, notAfter time.Time) Option {
	return func(t *x509.Certificate) { t.NotBefore, t.NotAfter = notBefore, notAfter }
}

// Expired makes a certificate whose validity ended an hour ago.
func Expired() Option {
	now := time.Now()
	return Validity(now.Add(-48*time.Hour), now.Add(-time.Hour))
}

// NotYetValid makes a certificate whose validity starts in a day.
func NotYetValid() Option {
	now := time.Now()
	return Validity(now.Add(24*time.Hour), now.Add(48*time.Hour))
}

// ClientAuth makes a client certificate (extended key usage clientAuth only).
func ClientAuth() Option {
	return func(t *x509.Certificate) { t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} }
}

// NewRoot makes a self-signed root CA valid from an hour ago for a year.
func NewRoot(commonName string, opts ...Option) (*Cert, error) {
	return issue(nil, caTemplate(commonName), opts)
}

// NewIntermediate makes a CA certificate signed by c.
func (c *Cert) NewIntermediate(commonName string, opts ...Option) (*Cert, error) {
	return issue(c, caTemplate(commonName), opts)
}

// NewLeaf makes an end-entity certificate signed by c, for server authentication unless
// ClientAuth is given.
func (c *Cert) NewLeaf(commonName string, opts ...Option) (*Cert, error) {
	t := baseTemplate(commonName)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return issue(c, t, opts)
}

func baseTemplate(commonName string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		BasicConstraintsValid: true,
	}
}

func caTemplate(commonName string) *x509.Certificate {
	t := baseTemplate(commonName)
	t.IsCA = true
	t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	return t
}

func issue(issuer *Cert, t *x509.Certificate, opts []Option) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signer := crypto.Signer(key)
	if issuer != nil {
		signer = issuer.Key
	}
	cert, err := sign(issuer, t, opts, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: cert, Key: key, Issuer: issuer}, nil
}

// Certify issues a client certificate (extended key usage clientAuth) signed by c for a
// public key whose private key someone else holds: a signer's answer to a certificate
// request, such as a pod certificate's.
func (c *Cert) Certify(pub crypto.PublicKey, commonName string, opts ...Option) (*x509.Certificate, error) {
	t := baseTemplate(commonName)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return sign(c, t, opts, pub, c.Key)
}

// sign signs template t, after opts, for pub: with signer, as issuer (itself when nil).
func sign(issuer *Cert, t *x509.Certificate, opts []Option, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	for _, o := range opts {
		o(t)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	t.SerialNumber = serial
	parent := t
	if issuer != nil {
		parent = issuer.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, t, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("pki: signing %q: %w", t.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// CertPEM is the certificate alone, PEM encoded.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM is the private key, PEM encoded (PKCS#8).
func (c *Cert) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		panic(fmt.Sprintf("pki: marshal key: %v", err)) // cannot happen for ECDSA keys
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// CredentialBundlePEM is the private key (PKCS#8) followed by ChainPEM, in one document: the
// credential bundle the kubelet writes for a projected pod certificate (credentialBundlePath).
func (c *Cert) CredentialBundlePEM() []byte { return append(c.KeyPEM(), c.ChainPEM()...) }

// ChainPEM is the certificate followed by every issuing intermediate, without the root:
// what a server sends (the chain.crt of Kong's guide to verifying upstream TLS).
func (c *Cert) ChainPEM() []byte {
	var out []byte
	for x := c; x != nil && x.Issuer != nil; x = x.Issuer {
		out = append(out, x.CertPEM()...)
	}
	if c.Issuer == nil {
		out = c.CertPEM()
	}
	return out
}

// TLSCertificate is the certificate with its intermediates and key, as a server or client
// presents it.
func (c *Cert) TLSCertificate() tls.Certificate {
	out := tls.Certificate{PrivateKey: c.Key, Leaf: c.Cert}
	for x := c; x != nil && (x == c || x.Issuer != nil); x = x.Issuer {
		out.Certificate = append(out.Certificate, x.Cert.Raw)
	}
	return out
}

// Pool is a certificate pool holding only c.
func (c *Cert) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

// Chain is the usual shape of an upstream's certificates: a root CA -> intermediate -> leaf
// chain, the leaf for kong.example, as in Kong's guide to verifying upstream TLS.
type Chain struct {
	Root, Intermediate, Leaf *Cert
}

// NewChain makes a root -> intermediate -> leaf chain. The leaf also carries the IP SAN
// 127.0.0.1 and the URI SAN spiffe://cluster.local/ns/echo/sa/echo, so that tests can verify
// by IP or URI; leafOpts add to it.
func NewChain(leafOpts ...Option) (*Chain, error) {
	root, err := NewRoot("root")
	if err != nil {
		return nil, err
	}
	inter, err := root.NewIntermediate("inter")
	if err != nil {
		return nil, err
	}
	opts := append([]Option{
		DNS("kong.example"),
		IP(net.ParseIP("127.0.0.1")),
		URI("spiffe://cluster.local/ns/echo/sa/echo"),
	}, leafOpts...)
	leaf, err := inter.NewLeaf("kong.example", opts...)
	if err != nil {
		return nil, err
	}
	return &Chain{Root: root, Intermediate: inter, Leaf: leaf}, nil
}

// WriteFile writes data to dir/name with mode 0600 and returns the path.
func WriteFile(dir, name string, data []byte) (string, error) {
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, data, 0o600)
}
