package gatewaytenant

// Reading the CA certificates a TLS upstream's references name: what each holds, never what
// that means for the tenant (certificates.go judges). The operator reads ConfigMaps of the
// tenant's namespace and ClusterTrustBundles of the cluster; it reads no Secret (a CA Secret
// and the client certificate reach the proxy through the kubelet, and the proxy reports on
// them: material.go). What was read is kept per object version, so a reconcile that finds the
// same version reads nothing.

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// Keys of the objects certificates are read from, and the kinds of CA references.
const (
	caCertKey = "ca.crt"
	// The OpenShift service CA: a ConfigMap in every namespace, injected by the service CA
	// operator.
	serviceCAConfigMap = "openshift-service-ca.crt"
	serviceCAKey       = "service-ca.crt"

	kindConfigMap          = "ConfigMap"
	kindSecret             = "Secret"
	kindClusterTrustBundle = "ClusterTrustBundle"
)

// ctbKind is the group and version of ClusterTrustBundles.
var ctbKind = certificatesv1.SchemeGroupVersion.WithKind(kindClusterTrustBundle)

// certSource reads the objects a tenant's CA references name. Implementations read the API
// server directly.
type certSource interface {
	client.Reader
}

// objectRead is what one referenced ConfigMap, ClusterTrustBundle (or selection of them)
// holds for one purpose: whether it exists, whether the key is there, and the certificates
// parsed from it or why they do not parse.
type objectRead struct {
	found    bool
	hasKey   bool
	certs    []*x509.Certificate
	parseErr error
	// bundles are the ClusterTrustBundles a selector matched, by name.
	bundles []string
}

// certMaterial is what the references of one TLS upstream hold, as read.
type certMaterial struct {
	// cas has one read per spec.tls.validation.caCertificateRefs entry, in order; a reference
	// the operator does not read (a Secret: the proxy checks it; a kind it does not know) has
	// the zero value.
	cas []objectRead
	// serviceCA is the OpenShift service CA ConfigMap, read when the upstream trusts it.
	serviceCA objectRead
}

// readCertificates reads every object the TLS upstream u of a tenant in namespace references
// and the operator reads. An error is returned only for API failures.
func readCertificates(ctx context.Context, src certSource, namespace string, u v1alpha1.Upstream) (certMaterial, error) {
	var m certMaterial
	for _, ref := range u.TLS.Validation.CACertificateRefs {
		var got objectRead
		var err error
		switch refKind(ref) {
		case kindConfigMap:
			key := types.NamespacedName{Namespace: namespace, Name: string(ref.Name)}
			got, err = memoized(ctx, src, corev1.SchemeGroupVersion.WithKind(kindConfigMap), key, "ca", func(src certSource) (objectRead, error) {
				return readConfigMap(ctx, src, key, caCertKey)
			})
		case kindClusterTrustBundle:
			got, err = readTrustBundles(ctx, src, ref)
		}
		if err != nil {
			return m, err
		}
		m.cas = append(m.cas, got)
	}
	if usesWellKnown(u.TLS, v1alpha1.WellKnownCAOpenShiftServiceCA) {
		var err error
		key := types.NamespacedName{Namespace: namespace, Name: serviceCAConfigMap}
		m.serviceCA, err = memoized(ctx, src, corev1.SchemeGroupVersion.WithKind(kindConfigMap), key, "service-ca", func(src certSource) (objectRead, error) {
			return readConfigMap(ctx, src, key, serviceCAKey)
		})
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

// refKind is what a CA reference names: kindConfigMap, kindSecret or kindClusterTrustBundle,
// "" for a group and kind the operator does not know.
func refKind(ref v1alpha1.CACertificateReference) string {
	switch kind := caRefKind(ref); {
	case ref.Group == "" && (kind == kindConfigMap || kind == kindSecret):
		return kind
	case ref.Group == certificatesv1.GroupName && kind == kindClusterTrustBundle:
		return kind
	}
	return ""
}

// caRefKind is the kind of a CA reference, ConfigMap when unset.
func caRefKind(ref v1alpha1.CACertificateReference) string {
	if ref.Kind == "" {
		return kindConfigMap
	}
	return string(ref.Kind)
}

// refName names a CA reference in messages and metrics: <Kind>/<name>, or for a selector
// ClusterTrustBundle/signerName=<signer>[,<labels>].
func refName(ref v1alpha1.CACertificateReference) string {
	if sel := ref.ClusterTrustBundleSelector; sel != nil {
		s := kindClusterTrustBundle + "/signerName=" + string(sel.SignerName)
		if l := selectorString(sel); l != "" {
			s += "," + l
		}
		return s
	}
	return caRefKind(ref) + "/" + string(ref.Name)
}

// bundleSelector is the label selector of a ClusterTrustBundle selection: every bundle of the
// signer when it sets none.
func bundleSelector(sel *v1alpha1.ClusterTrustBundleSelector) (labels.Selector, error) {
	if sel.LabelSelector == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(sel.LabelSelector)
}

func selectorString(sel *v1alpha1.ClusterTrustBundleSelector) string {
	s, err := bundleSelector(sel)
	if err != nil {
		return "(invalid selector)"
	}
	return s.String()
}

// signerOfBundle is the signer a ClusterTrustBundle is linked to, from its name, which the API
// server requires to be <signer with ':' for '/'>:<suffix>; "" for a bundle of no signer,
// whose name has no ':'.
func signerOfBundle(name string) string {
	i := strings.LastIndex(name, ":")
	if i < 0 {
		return ""
	}
	return strings.ReplaceAll(name[:i], ":", "/")
}

// readConfigMap reads the CA bundle under dataKey of a ConfigMap.
func readConfigMap(ctx context.Context, src certSource, key types.NamespacedName, dataKey string) (objectRead, error) {
	cm := &corev1.ConfigMap{}
	err := src.Get(ctx, key, cm)
	switch {
	case apierrors.IsNotFound(err):
		return objectRead{}, nil
	case err != nil:
		return objectRead{}, fmt.Errorf("reading ConfigMap %s: %w", key, err)
	}
	got := objectRead{found: true}
	var data []byte
	if v, ok := cm.Data[dataKey]; ok {
		data, got.hasKey = []byte(v), true
	} else if v, ok := cm.BinaryData[dataKey]; ok {
		data, got.hasKey = v, true
	}
	if got.hasKey {
		got.certs, got.parseErr = contract.ParseCABundle(data)
	}
	return got, nil
}

// readTrustBundles reads the ClusterTrustBundle a reference names, or those its selector
// matches, merged.
func readTrustBundles(ctx context.Context, src certSource, ref v1alpha1.CACertificateReference) (objectRead, error) {
	read := func(name string) (objectRead, error) {
		key := types.NamespacedName{Name: name}
		return memoized(ctx, src, ctbKind, key, "ca", func(src certSource) (objectRead, error) { return readTrustBundle(ctx, src, key) })
	}
	sel := ref.ClusterTrustBundleSelector
	if sel == nil {
		return read(string(ref.Name))
	}
	names, err := selectBundles(ctx, src, sel)
	if err != nil {
		return objectRead{}, err
	}
	merged := objectRead{hasKey: true}
	seen := map[string]bool{}
	for _, name := range names {
		got, err := read(name)
		if err != nil || !got.found {
			continue // gone since it was listed: its deletion enqueues the tenant again
		}
		merged.found = true
		merged.bundles = append(merged.bundles, name)
		if got.parseErr != nil && merged.parseErr == nil {
			merged.parseErr = fmt.Errorf("ClusterTrustBundle %q: %w", name, got.parseErr)
		}
		for _, c := range got.certs {
			if !seen[string(c.Raw)] {
				seen[string(c.Raw)] = true
				merged.certs = append(merged.certs, c)
			}
		}
	}
	return merged, nil
}

// readTrustBundle reads one ClusterTrustBundle.
func readTrustBundle(ctx context.Context, src certSource, key types.NamespacedName) (objectRead, error) {
	ctb := &certificatesv1.ClusterTrustBundle{}
	err := src.Get(ctx, key, ctb)
	switch {
	case apierrors.IsNotFound(err):
		return objectRead{}, nil
	case err != nil:
		return objectRead{}, fmt.Errorf("reading ClusterTrustBundle %s: %w", key.Name, err)
	}
	got := objectRead{found: true, hasKey: true}
	got.certs, got.parseErr = contract.ParseCABundle([]byte(ctb.Spec.TrustBundle))
	return got, nil
}

// selectBundles lists the names of the ClusterTrustBundles of the selector's signer whose
// labels match, sorted: from the cache's metadata when src is a memoSource, from the API
// server otherwise.
func selectBundles(ctx context.Context, src certSource, sel *v1alpha1.ClusterTrustBundleSelector) ([]string, error) {
	selector, err := bundleSelector(sel)
	if err != nil {
		return nil, err
	}
	var names []string
	if m, ok := src.(*memoSource); ok {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(ctbKind.GroupVersion().WithKind(kindClusterTrustBundle + "List"))
		if err := m.meta.List(ctx, list, client.MatchingLabelsSelector{Selector: selector}); err != nil {
			return nil, fmt.Errorf("listing ClusterTrustBundles: %w", err)
		}
		for _, b := range list.Items {
			names = append(names, b.Name)
		}
	} else {
		list := &certificatesv1.ClusterTrustBundleList{}
		if err := src.List(ctx, list, client.MatchingLabelsSelector{Selector: selector}); err != nil {
			return nil, fmt.Errorf("listing ClusterTrustBundles: %w", err)
		}
		for _, b := range list.Items {
			names = append(names, b.Name)
		}
	}
	names = slices.DeleteFunc(names, func(n string) bool { return signerOfBundle(n) != string(sel.SignerName) })
	slices.Sort(names)
	return names, nil
}

// certMemoSize bounds how many object reads are remembered: one per referenced ConfigMap or
// ClusterTrustBundle version in use. Past it the least recently used is read again when next
// needed.
const certMemoSize = 8192

// memoSource reads the ConfigMaps and ClusterTrustBundles that CA references name only when
// they changed. The manager's cache holds their metadata (never their contents); what was read
// from each object is kept by UID and resourceVersion, so a reconcile that finds the same
// version reads nothing, and one that finds no object reads nothing either.
type memoSource struct {
	certSource               // the API server
	meta       client.Reader // metadata of ConfigMaps and ClusterTrustBundles: the manager's cache, or Referenced
	reads      *lru.Cache    // memoKey -> objectRead
}

func newMemoSource(direct certSource, meta client.Reader) *memoSource {
	return &memoSource{certSource: direct, meta: meta, reads: lru.New(certMemoSize)}
}

// memoKey names one version of one object read for one purpose (the keys read differ).
type memoKey struct {
	purpose         string
	kind            string
	name            types.NamespacedName
	uid             types.UID
	resourceVersion string
}

// memoized returns what read makes of the object of kind gvk at key, reading it through src
// only when src is a memoSource whose cache shows a version not seen before.
func memoized(ctx context.Context, src certSource, gvk schema.GroupVersionKind, key types.NamespacedName, purpose string,
	read func(certSource) (objectRead, error)) (objectRead, error) {
	m, ok := src.(*memoSource)
	if !ok {
		return read(src)
	}
	pm := &metav1.PartialObjectMetadata{}
	pm.SetGroupVersionKind(gvk)
	err := m.meta.Get(ctx, key, pm)
	switch {
	case apierrors.IsNotFound(err):
		// The metadata reader knows every referenced ConfigMap and every ClusterTrustBundle:
		// when it has none, there is none to read (its creation enqueues the tenant again).
		return objectRead{}, nil
	case err != nil:
		return objectRead{}, fmt.Errorf("reading metadata of %s %s: %w", gvk.Kind, key, err)
	}
	mk := memoKey{purpose: purpose, kind: gvk.Kind, name: key, uid: pm.UID, resourceVersion: pm.ResourceVersion}
	if v, ok := m.reads.Get(mk); ok {
		return v.(objectRead), nil
	}
	got, err := read(m.certSource)
	if err == nil {
		m.reads.Add(mk, got)
	}
	return got, err
}
