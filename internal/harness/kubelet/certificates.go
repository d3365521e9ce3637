package kubelet

// The kubelet's two certificate projections: clusterTrustBundle (the trust anchors of one
// ClusterTrustBundle by name, or of every bundle of a signer whose labels match, deduplicated)
// and podCertificate (a key the kubelet makes in the pod and the chain a signer issues for it,
// written as one credential bundle and renewed when Pod.RotatePodCertificates is called).

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Option changes how Mount plays the kubelet.
type Option func(*Pod)

// WithPodCertificates lets the pod's podCertificate projections get their certificates from
// issuer; without it a pod that has one does not mount (the kubelet would not start it).
func WithPodCertificates(issuer CredentialIssuer) Option {
	return func(p *Pod) { p.issuer = issuer }
}

// WithPodName names the pod (default: "pod"), as its PodCertificateRequests name it.
func WithPodName(name string) Option { return func(p *Pod) { p.ref.Name = name } }

// PodRef is the pod a pod certificate is for, as the kubelet describes it to the signer.
type PodRef struct {
	Namespace, Name    string
	UID                types.UID
	ServiceAccountName string
	NodeName           string
	NodeUID            types.UID
}

// CertificateRequest is what the kubelet asks a signer for: a certificate for Key, for the
// pod, under the projection's settings.
type CertificateRequest struct {
	Pod        PodRef
	Projection corev1.PodCertificateProjection
	Key        crypto.Signer
}

// CredentialIssuer gets the certificate chain (PEM, leaf first) of a pod certificate.
type CredentialIssuer interface {
	Issue(ctx context.Context, req CertificateRequest) ([]byte, error)
}

// credential is a pod certificate the pod holds: its key (PKCS#8 PEM) and chain (PEM).
type credential struct{ key, chain []byte }

// podCertificate is the credential of the podCertificate projection of a volume's source i,
// requested when the pod starts and when it is rotated.
func (p *Pod) podCertificate(ctx context.Context, volume string, i int, src *corev1.PodCertificateProjection) (credential, error) {
	key := fmt.Sprintf("%s/%d", volume, i)
	if c, ok := p.creds[key]; ok {
		return c, nil
	}
	if p.issuer == nil {
		return credential{}, fmt.Errorf("projected source %d: a podCertificate needs a signer (kubelet.WithPodCertificates)", i)
	}
	c, err := requestCredential(ctx, p.issuer, p.ref, src)
	if err != nil {
		return credential{}, fmt.Errorf("projected source %d: pod certificate of signer %s: %w", i, src.SignerName, err)
	}
	p.creds[key] = c
	return c, nil
}

// RotatePodCertificates gets a new key and certificate for every podCertificate projection
// and swaps them into the volumes, as the kubelet does from a certificate's beginRefreshAt:
// each volume's files change at once.
func (p *Pod) RotatePodCertificates(ctx context.Context) ([]File, error) {
	clear(p.creds)
	return p.Sync(ctx)
}

// requestCredential makes a key of the projection's type and has issuer certify it.
func requestCredential(ctx context.Context, issuer CredentialIssuer, pod PodRef, src *corev1.PodCertificateProjection) (credential, error) {
	key, err := GenerateKey(src.KeyType)
	if err != nil {
		return credential{}, err
	}
	chain, err := issuer.Issue(ctx, CertificateRequest{Pod: pod, Projection: *src, Key: key})
	if err != nil {
		return credential{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return credential{}, err
	}
	return credential{key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), chain: chain}, nil
}

// GenerateKey makes a key of a podCertificate keyType, as the kubelet does.
func GenerateKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "ECDSAP256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECDSAP384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECDSAP521":
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ED25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case "RSA3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "RSA4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("unknown key type %q", keyType)
}

// addPodCertificate writes the credential of a podCertificate projection to the paths it names.
func addPodCertificate(payload map[string]Item, sources map[string]string, src *corev1.PodCertificateProjection, c credential, mode int32) {
	what := "podCertificate of signer " + src.SignerName
	for path, data := range map[string][]byte{
		src.CredentialBundlePath: slices.Concat(c.key, c.chain),
		src.KeyPath:              c.key,
		src.CertificateChainPath: c.chain,
	} {
		if path != "" {
			payload[path] = Item{Data: data, Mode: modeOf(mode)}
			sources[path] = what
		}
	}
}

// trustAnchors is the content of a clusterTrustBundle projection: the certificates of the
// bundle it names, or of every bundle of its signer whose labels match its selector (an unset
// selector matches none), deduplicated. ok is false when there are none and the projection is
// optional: the kubelet then writes an empty file.
func (p *Pod) trustAnchors(ctx context.Context, src *corev1.ClusterTrustBundleProjection) ([]byte, string, error) {
	optional := ptr.Deref(src.Optional, false)
	var bundles []certificatesv1.ClusterTrustBundle
	var what string
	switch {
	case src.Name != nil:
		what = "ClusterTrustBundle " + *src.Name
		ctb := &certificatesv1.ClusterTrustBundle{}
		err := p.reader.Get(ctx, client.ObjectKey{Name: *src.Name}, ctb)
		switch {
		case apierrors.IsNotFound(err) && optional:
			return nil, what, nil
		case err != nil:
			return nil, what, fmt.Errorf("reading %s: %w", what, err)
		}
		bundles = append(bundles, *ctb)
	case src.SignerName != nil:
		what = fmt.Sprintf("ClusterTrustBundles of signer %s", *src.SignerName)
		list := &certificatesv1.ClusterTrustBundleList{}
		if src.LabelSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(src.LabelSelector)
			if err != nil {
				return nil, what, err
			}
			if err := p.reader.List(ctx, list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
				return nil, what, fmt.Errorf("listing %s: %w", what, err)
			}
			what += " labelled " + sel.String()
		}
		for _, b := range list.Items {
			if b.Spec.SignerName == *src.SignerName {
				bundles = append(bundles, b)
			}
		}
		if len(bundles) == 0 && !optional {
			return nil, what, fmt.Errorf("%s: none matches", what)
		}
	default:
		return nil, "", fmt.Errorf("a clusterTrustBundle projection names neither name nor signerName")
	}
	seen := map[string]bool{}
	var out []byte
	for _, b := range bundles {
		rest := []byte(b.Spec.TrustBundle)
		for {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			if !seen[string(block.Bytes)] {
				seen[string(block.Bytes)] = true
				out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})...)
			}
		}
	}
	return out, what, nil
}

// newPodRef is the pod the kubelet plays, with made-up UIDs: no Pod object exists in envtest.
func newPodRef(namespace string, spec *corev1.PodSpec) PodRef {
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	return PodRef{Namespace: namespace, Name: "pod", UID: uuid.NewUUID(), ServiceAccountName: sa, NodeName: "harness-node", NodeUID: uuid.NewUUID()}
}
