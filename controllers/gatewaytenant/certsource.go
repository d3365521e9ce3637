package gatewaytenant

// Reading the objects a TLS upstream's certificate references name: what each holds, never
// what that means for the tenant (certificates.go judges). What was read is kept per object
// version, so a reconcile that finds the same version reads nothing.

import (
	"context"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Keys of the objects certificates are read from.
const (
	caCertKey = "ca.crt"
	// The OpenShift service CA: a ConfigMap in every namespace, injected by the service CA
	// operator.
	serviceCAConfigMap = "openshift-service-ca.crt"
	serviceCAKey       = "service-ca.crt"
)

// certSource reads the objects a tenant's certificate references name. Implementations read
// the API server directly: Secret contents are never cached.
type certSource interface {
	Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error
}

// objectRead is what one referenced ConfigMap or Secret holds for one purpose: whether it
// exists, a Secret's type, whether the key is there, and the certificates parsed from it or
// why they do not parse. Private keys are never kept.
type objectRead struct {
	found      bool
	secretType corev1.SecretType
	hasKey     bool
	certs      []*x509.Certificate
	parseErr   error
}

// certMaterial is what the references of one TLS upstream hold, as read.
type certMaterial struct {
	// cas has one read per spec.tls.validation.caCertificateRefs entry, in order; a reference
	// of a kind the operator does not read has the zero value.
	cas []objectRead
	// serviceCA is the OpenShift service CA ConfigMap, read when the upstream trusts it.
	serviceCA objectRead
	// client is the client certificate Secret, read when clientCertificateRef is set.
	client objectRead
}

// readCertificates reads every object the TLS upstream u of a tenant in namespace references.
// An error is returned only for API failures.
func readCertificates(ctx context.Context, src certSource, namespace string, u v1alpha1.Upstream) (certMaterial, error) {
	var m certMaterial
	for _, ref := range u.TLS.Validation.CACertificateRefs {
		kind := caRefKind(ref)
		var got objectRead
		if readableKind(ref) {
			var err error
			got, err = memoized(ctx, src, kind, namespace, string(ref.Name), "ca", func(src certSource) (objectRead, error) {
				return readCARef(ctx, src, kind, types.NamespacedName{Namespace: namespace, Name: string(ref.Name)}, caCertKey)
			})
			if err != nil {
				return m, err
			}
		}
		m.cas = append(m.cas, got)
	}
	if usesWellKnown(u.TLS, v1alpha1.WellKnownCAOpenShiftServiceCA) {
		var err error
		m.serviceCA, err = memoized(ctx, src, "ConfigMap", namespace, serviceCAConfigMap, "service-ca", func(src certSource) (objectRead, error) {
			return readCARef(ctx, src, "ConfigMap", types.NamespacedName{Namespace: namespace, Name: serviceCAConfigMap}, serviceCAKey)
		})
		if err != nil {
			return m, err
		}
	}
	if ref := u.TLS.ClientCertificateRef; ref != nil {
		var err error
		m.client, err = memoized(ctx, src, "Secret", namespace, ref.Name, "client", func(src certSource) (objectRead, error) {
			return readClientCertificate(ctx, src, types.NamespacedName{Namespace: namespace, Name: ref.Name})
		})
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

// readableKind says whether a CA reference names a kind the operator reads.
func readableKind(ref v1alpha1.CACertificateReference) bool {
	kind := caRefKind(ref)
	return ref.Group == "" && (kind == "ConfigMap" || kind == "Secret")
}

// caRefKind is the kind of a CA reference, ConfigMap when unset.
func caRefKind(ref v1alpha1.CACertificateReference) string {
	if ref.Kind == "" {
		return "ConfigMap"
	}
	return string(ref.Kind)
}

// readCARef reads the CA bundle under dataKey of a ConfigMap or Secret.
func readCARef(ctx context.Context, src certSource, kind string, key types.NamespacedName, dataKey string) (objectRead, error) {
	var data []byte
	var got objectRead
	var err error
	if kind == "ConfigMap" {
		cm := &corev1.ConfigMap{}
		err = src.Get(ctx, key, cm)
		if v, ok := cm.Data[dataKey]; ok {
			data, got.hasKey = []byte(v), true
		} else if v, ok := cm.BinaryData[dataKey]; ok {
			data, got.hasKey = v, true
		}
	} else {
		s := &corev1.Secret{}
		err = src.Get(ctx, key, s)
		data, got.hasKey = s.Data[dataKey]
		got.secretType = s.Type
	}
	switch {
	case apierrors.IsNotFound(err):
		return objectRead{}, nil
	case err != nil:
		return objectRead{}, fmt.Errorf("reading %s %s: %w", kind, key, err)
	}
	got.found = true
	if got.hasKey {
		got.certs, got.parseErr = contract.ParseCertificates(data)
	}
	return got, nil
}

// readClientCertificate reads a client certificate Secret: its type, and the chain of
// tls.crt when it matches tls.key.
func readClientCertificate(ctx context.Context, src certSource, key types.NamespacedName) (objectRead, error) {
	s := &corev1.Secret{}
	err := src.Get(ctx, key, s)
	switch {
	case apierrors.IsNotFound(err):
		return objectRead{}, nil
	case err != nil:
		return objectRead{}, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	got := objectRead{found: true, secretType: s.Type, hasKey: len(s.Data[corev1.TLSCertKey]) > 0}
	if s.Type == corev1.SecretTypeTLS {
		_, got.certs, got.parseErr = contract.ParseClientCertificate(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	}
	return got, nil
}

// certMemoSize bounds how many object reads are remembered: one per referenced ConfigMap or
// Secret version in use. Past it the least recently used is read again when next needed.
const certMemoSize = 8192

// memoSource reads the ConfigMaps and Secrets that certificate references name only when
// they changed. The manager's cache holds their metadata (never their contents); what was
// read from each object is kept by UID and resourceVersion, so a reconcile that finds the
// same version reads nothing, and one that finds no object reads nothing either.
type memoSource struct {
	direct certSource    // the API server
	meta   client.Reader // metadata of ConfigMaps and Secrets: the manager's cache, or Referenced
	reads  *lru.Cache    // memoKey -> objectRead
}

func newMemoSource(direct certSource, meta client.Reader) *memoSource {
	return &memoSource{direct: direct, meta: meta, reads: lru.New(certMemoSize)}
}

func (m *memoSource) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return m.direct.Get(ctx, key, obj, opts...)
}

// memoKey names one version of one object read for one purpose (the keys read differ).
type memoKey struct {
	purpose         string
	uid             types.UID
	resourceVersion string
}

// memoized returns what read makes of the object kind/namespace/name, reading it through src
// only when src is a memoSource whose cache shows a version not seen before.
func memoized(ctx context.Context, src certSource, kind, namespace, name, purpose string, read func(certSource) (objectRead, error)) (objectRead, error) {
	m, ok := src.(*memoSource)
	if !ok {
		return read(src)
	}
	pm := &metav1.PartialObjectMetadata{}
	pm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	key := types.NamespacedName{Namespace: namespace, Name: name}
	err := m.meta.Get(ctx, key, pm)
	switch {
	case apierrors.IsNotFound(err):
		// The metadata reader knows every referenced ConfigMap and Secret: when it has none,
		// there is none to read (its creation enqueues the tenant again).
		return objectRead{}, nil
	case err != nil:
		return objectRead{}, fmt.Errorf("reading metadata of %s %s: %w", kind, key, err)
	}
	mk := memoKey{purpose: purpose, uid: pm.UID, resourceVersion: pm.ResourceVersion}
	if v, ok := m.reads.Get(mk); ok {
		return v.(objectRead), nil
	}
	got, err := read(m)
	if err == nil {
		m.reads.Add(mk, got)
	}
	return got, err
}
