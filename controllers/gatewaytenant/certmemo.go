package gatewaytenant

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
)

// certMemoSize bounds how many parsed certificate objects are remembered: one per referenced
// ConfigMap or Secret version in use. Past it the least recently used is read again when next
// needed.
const certMemoSize = 8192

// memoSource reads the ConfigMaps and Secrets that certificate references name only when
// they changed. The manager's cache holds their metadata (never their contents); what was
// parsed from each object is kept by UID and resourceVersion, so a reconcile that finds the
// same version reads nothing, and one that finds no object reads nothing either.
type memoSource struct {
	direct certSource    // the API server
	meta   client.Reader // metadata of ConfigMaps and Secrets, from the manager's cache
	parsed *lru.Cache    // memoKey -> parsedObject
}

func newMemoSource(direct certSource, meta client.Reader) *memoSource {
	return &memoSource{direct: direct, meta: meta, parsed: lru.New(certMemoSize)}
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

// parsedObject is what a certificate reference resolved to: certificates, or why not.
// Private keys are never kept.
type parsedObject struct {
	certs       []*x509.Certificate
	reason, msg string
}

// memoized returns what read makes of the object kind/namespace/name, reading it through src
// only when src is a memoSource whose cache shows a version not seen before.
func memoized(ctx context.Context, src certSource, kind, namespace, name, purpose string, read func(certSource) (parsedObject, error)) (parsedObject, error) {
	m, ok := src.(*memoSource)
	if !ok || (kind != "ConfigMap" && kind != "Secret") {
		return read(src)
	}
	pm := &metav1.PartialObjectMetadata{}
	pm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	key := types.NamespacedName{Namespace: namespace, Name: name}
	err := m.meta.Get(ctx, key, pm)
	switch {
	case apierrors.IsNotFound(err):
		// The cache sees every ConfigMap and Secret: when it has none, there is none to read
		// (its creation enqueues the tenant again).
		return read(notFound{kind: kind})
	case err != nil:
		return parsedObject{}, fmt.Errorf("reading metadata of %s %s: %w", kind, key, err)
	}
	mk := memoKey{purpose: purpose, uid: pm.UID, resourceVersion: pm.ResourceVersion}
	if v, ok := m.parsed.Get(mk); ok {
		return v.(parsedObject), nil
	}
	p, err := read(m)
	if err == nil {
		m.parsed.Add(mk, p)
	}
	return p, err
}

// notFound is a certSource that holds nothing.
type notFound struct{ kind string }

func (n notFound) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(corev1.Resource(map[string]string{"ConfigMap": "configmaps", "Secret": "secrets"}[n.kind]), key.Name)
}
