package contract

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

// TestParseProblems: every way certificate material fails to load has its problem, which the
// operator maps to a condition reason of the tenant.
func TestParseProblems(t *testing.T) {
	root, err := pki.NewRoot("root")
	if err != nil {
		t.Fatal(err)
	}
	client, err := root.NewLeaf("gateway", pki.ClientAuth())
	if err != nil {
		t.Fatal(err)
	}
	other, err := root.NewLeaf("other", pki.ClientAuth())
	if err != nil {
		t.Fatal(err)
	}
	parseCA := func(data []byte) error { _, err := ParseCABundle(data); return err }
	parsePair := func(cert, key []byte) func() error {
		return func() error { _, _, err := ParseClientCertificate(cert, key); return err }
	}
	parseBundle := func(data []byte) func() error {
		return func() error { _, _, err := ParseCredentialBundle(data); return err }
	}
	for _, tc := range []struct {
		name    string
		parse   func() error
		problem MaterialProblem // "" parses
		message string
	}{
		{"CA bundle", func() error { return parseCA(root.CertPEM()) }, "", ""},
		{"CA bundle of nothing", func() error { return parseCA([]byte("# empty\n")) }, MaterialNotPEM, "no PEM certificate found"},
		{"CA bundle holding a leaf", func() error { return parseCA(append(root.CertPEM(), client.CertPEM()...)) }, MaterialNotCA,
			`certificate "gateway" is not a CA certificate`},
		{"key pair", parsePair(client.ChainPEM(), client.KeyPEM()), "", ""},
		{"key pair without certificate", parsePair([]byte("x"), client.KeyPEM()), MaterialNotPEM, "no PEM certificate found"},
		{"key pair without key", parsePair(client.ChainPEM(), client.CertPEM()), MaterialNotPEM, "no PEM private key found"},
		{"key pair of another key", parsePair(client.ChainPEM(), other.KeyPEM()), MaterialKeyMismatch, "private key does not match public key"},
		{"credential bundle", parseBundle(client.CredentialBundlePEM()), "", ""},
		{"credential bundle starting with the chain", parseBundle(append(client.ChainPEM(), client.KeyPEM()...)), MaterialNotPEM,
			"starts with a PEM PRIVATE KEY block (PKCS#8)"},
		{"credential bundle without chain", parseBundle(client.KeyPEM()), MaterialNotPEM, "no PEM certificate found"},
		{"credential bundle of another key", parseBundle(append(other.KeyPEM(), client.ChainPEM()...)), MaterialKeyMismatch, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse()
			switch {
			case tc.problem == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.problem != "" && (err == nil || ProblemOf(err) != tc.problem || !strings.Contains(err.Error(), tc.message)):
				t.Fatalf("error %v (problem %q), want problem %q with %q", err, ProblemOf(err), tc.problem, tc.message)
			}
		})
	}
}

func TestValidity(t *testing.T) {
	now := time.Now()
	cert := func(opts ...pki.Option) *x509.Certificate {
		c, err := pki.NewRoot("ca", opts...)
		if err != nil {
			t.Fatal(err)
		}
		return c.Cert
	}
	fine := cert()
	for _, tc := range []struct {
		name string
		c    *x509.Certificate
		want MaterialProblem
	}{
		{"valid", fine, ""},
		{"expired", cert(pki.Expired()), MaterialExpired},
		{"not yet valid", cert(pki.NotYetValid()), MaterialNotYetValid},
		{"expiring within the window", cert(pki.Validity(now.Add(-time.Hour), now.Add(time.Hour))), MaterialExpiringSoon},
	} {
		if p, c := Validity([]*x509.Certificate{fine, tc.c}, now, 24*time.Hour); p != tc.want || (p != "" && c != tc.c) {
			t.Errorf("%s: %q of %v, want %q", tc.name, p, c, tc.want)
		}
	}
}
