package contract

import (
	"crypto/x509"
	"time"
)

// What the proxy says of the TLS material it loads: per upstream, one MaterialState per CA
// file and one for the client certificate, in the state report. The operator reads no Secret
// and no pod certificate: this report is how it learns that a referenced Secret is missing,
// has no tls.crt, does not parse, does not match its key or expires, and what each replica
// presents as its client identity.

// MaterialKind is what a piece of TLS material is for.
type MaterialKind string

// Kinds of material.
const (
	// MaterialCA is a CA bundle of caFiles.
	MaterialCA MaterialKind = "ca"
	// MaterialClient is the client certificate (certFile and keyFile, or a credential bundle).
	MaterialClient MaterialKind = "client"
)

// MaterialProblem says in stable words what is wrong with the files of one piece of TLS
// material. The operator maps each to a condition reason of the tenant (docs/proxy.md).
type MaterialProblem string

// Problems of material. All but MaterialExpiringSoon fail it: the upstream fails closed with
// it (or keeps what loaded before, see MaterialState.Loaded).
const (
	// MaterialMissing: a file does not exist. Through a Kubernetes mount of an optional
	// source, the Secret does not exist or has no such key: a Secret that is not of type
	// kubernetes.io/tls has no tls.crt and tls.key.
	MaterialMissing MaterialProblem = "missing"
	// MaterialUnreadable: a file exists but cannot be read.
	MaterialUnreadable MaterialProblem = "unreadable"
	// MaterialNotPEM: no PEM certificate (or private key) in the file, or one that does not
	// parse; for a credential bundle, one that does not start with a PKCS#8 PRIVATE KEY.
	MaterialNotPEM MaterialProblem = "not_pem"
	// MaterialKeyMismatch: the private key is not the certificate's.
	MaterialKeyMismatch MaterialProblem = "key_mismatch"
	// MaterialNotCA: a CA bundle holds a certificate that is not a CA.
	MaterialNotCA MaterialProblem = "not_ca"
	// MaterialExpired: a certificate is past its notAfter.
	MaterialExpired MaterialProblem = "expired"
	// MaterialNotYetValid: a certificate is before its notBefore.
	MaterialNotYetValid MaterialProblem = "not_yet_valid"
	// MaterialExpiringSoon: a warning; the material works, but a certificate expires within
	// verification.expiryWarning (for a pod certificate, also within a quarter of its
	// lifetime: the kubelet should have rotated it by then).
	MaterialExpiringSoon MaterialProblem = "expiring_soon"
)

// Failed says whether the problem makes the material unusable or wrong: every problem but
// MaterialExpiringSoon.
func (p MaterialProblem) Failed() bool { return p != "" && p != MaterialExpiringSoon }

// MaterialState is one piece of an upstream's TLS material, as the proxy last read it.
type MaterialState struct {
	// Field is the material's field under the upstream's tls: "caFiles[0]",
	// "clientCertificate" (certFile and keyFile) or "clientCertificate.credentialBundleFile".
	Field string `json:"field"`
	// Kind is MaterialCA or MaterialClient.
	Kind MaterialKind `json:"kind"`
	// Files are the files it is read from, as configured.
	Files []string `json:"files"`
	// Problem is empty when the files load and every certificate is within its validity (and
	// not about to leave it); the problem otherwise.
	Problem MaterialProblem `json:"problem,omitempty"`
	// Missing are the files that do not exist, with MaterialMissing.
	Missing []string `json:"missing,omitempty"`
	// Message says what is wrong in one line, with Problem.
	Message string `json:"message,omitempty"`
	// Loaded is what the proxy holds and uses: the files' current content when they load,
	// the content that loaded before when they do not (a failed reload keeps it); nil when
	// nothing ever loaded.
	Loaded *LoadedMaterial `json:"loaded,omitempty"`
}

// LoadedMaterial describes the certificates of loaded material: the leaf of a client
// certificate, the certificate of a CA bundle that expires first.
type LoadedMaterial struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// Certificates counts the certificates loaded (a chain, or a bundle).
	Certificates int `json:"certificates"`
	// LoadedAt is when this content was loaded.
	LoadedAt time.Time `json:"loadedAt"`
}

// Describe is the LoadedMaterial of certs (not empty): described by described, the leaf or
// the certificate that expires first.
func Describe(described *x509.Certificate, certs []*x509.Certificate, loadedAt time.Time) *LoadedMaterial {
	return &LoadedMaterial{
		Subject:      described.Subject.String(),
		Issuer:       described.Issuer.String(),
		NotBefore:    described.NotBefore.UTC(),
		NotAfter:     described.NotAfter.UTC(),
		Certificates: len(certs),
		LoadedAt:     loadedAt.UTC(),
	}
}

// Validity judges certificates at now: the first that is expired or not yet valid, else the
// first that expires within warn of now (MaterialExpiringSoon), else no problem. It returns
// the certificate it judged by.
func Validity(certs []*x509.Certificate, now time.Time, warn time.Duration) (MaterialProblem, *x509.Certificate) {
	for _, c := range certs {
		switch {
		case now.After(c.NotAfter):
			return MaterialExpired, c
		case now.Before(c.NotBefore):
			return MaterialNotYetValid, c
		}
	}
	for _, c := range certs {
		if c.NotAfter.Sub(now) < warn {
			return MaterialExpiringSoon, c
		}
	}
	return "", nil
}

// FirstToExpire is the certificate of certs (not empty) whose notAfter comes first.
func FirstToExpire(certs []*x509.Certificate) *x509.Certificate {
	first := certs[0]
	for _, c := range certs[1:] {
		if c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	return first
}
