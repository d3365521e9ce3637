package gatewaytenant

import (
	"context"
	"sync"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

// countingSource is the API server as the memo sees it, counting the reads that reach it.
type countingSource struct {
	client.Client
	mu    sync.Mutex
	reads map[string]int // by name
}

func (c *countingSource) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.mu.Lock()
	c.reads[key.Name]++
	c.mu.Unlock()
	return c.Client.Get(ctx, key, obj, opts...)
}

// memoWorld is a namespace with a CA ConfigMap, two ClusterTrustBundles of a signer, the memo
// in front of them, and a TLS upstream referencing the ConfigMap and the signer's bundles.
type memoWorld struct {
	api    client.Client
	direct *countingSource
	memo   *memoSource
	up     v1alpha1.Upstream
	root   *pki.Cert
}

func newMemoWorld(t *testing.T) *memoWorld {
	t.Helper()
	root, err := pki.NewRoot("memo root")
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "ca"}, Data: map[string]string{caCertKey: string(root.CertPEM())}},
		trustBundle("example.com:upstreams:v1", root, "upstreams"),
		trustBundle("example.com:upstreams:v2", root, "upstreams"),
		trustBundle("example.com:other:v1", root, "upstreams"), // another signer
	).Build()
	direct := &countingSource{Client: api, reads: map[string]int{}}
	return &memoWorld{
		api: api, direct: direct, memo: newMemoSource(direct, api), root: root,
		up: v1alpha1.Upstream{Name: "secure", Host: "secure.team.svc", Port: 8443, TLS: &v1alpha1.UpstreamTLS{
			Validation: v1alpha1.UpstreamTLSValidation{CACertificateRefs: []v1alpha1.CACertificateReference{{Name: "ca"},
				{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle", ClusterTrustBundleSelector: &v1alpha1.ClusterTrustBundleSelector{
					SignerName: "example.com/upstreams", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "upstreams"}}}}}},
			ClientCertificateRef: &v1alpha1.SecretReference{Name: "client"},
		}},
	}
}

func trustBundle(name string, ca *pki.Cert, trust string) *certificatesv1.ClusterTrustBundle {
	return &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"trust": trust}},
		Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: signerOfBundle(name), TrustBundle: string(ca.CertPEM())}}
}

func (w *memoWorld) check(t *testing.T) (certMaterial, certCheck) {
	t.Helper()
	m, err := readCertificates(context.Background(), w.memo, "team", w.up)
	if err != nil {
		t.Fatal(err)
	}
	return m, judgeCertificates("team", w.up, m, time.Now(), time.Hour)
}

func (w *memoWorld) expectReads(t *testing.T, want map[string]int) {
	t.Helper()
	for name, n := range want {
		if got := w.direct.reads[name]; got != n {
			t.Errorf("%s read %d times from the API server, want %d", name, got, n)
		}
	}
}

// An unchanged object is read once, however often its tenant is reconciled; a changed one is
// read again and judged on its new contents. No Secret is ever read.
func TestMemoReadsCertificatesOnlyWhenTheyChange(t *testing.T) {
	w := newMemoWorld(t)
	for range 3 {
		m, res := w.check(t)
		if res.reason != "" {
			t.Fatalf("valid references: %s %s", res.reason, res.detail)
		}
		if got := m.cas[1].bundles; len(got) != 2 || len(m.cas[1].certs) != 1 {
			t.Fatalf("the signer's bundles %v gave %d certificates, want both bundles and their one CA", got, len(m.cas[1].certs))
		}
	}
	w.expectReads(t, map[string]int{"ca": 1, "example.com:upstreams:v1": 1, "example.com:upstreams:v2": 1, "example.com:other:v1": 0, "client": 0})

	cm := &corev1.ConfigMap{}
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: "ca"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data[caCertKey] = "not a certificate"
	if err := w.api.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	if _, res := w.check(t); res.reason != v1alpha1.ReasonInvalidCACertificateRef {
		t.Errorf("after the CA ConfigMap broke: reason %q, want %q", res.reason, v1alpha1.ReasonInvalidCACertificateRef)
	}
	w.expectReads(t, map[string]int{"ca": 2, "example.com:upstreams:v1": 1})

	if err := w.api.Create(context.Background(), trustBundle("example.com:upstreams:v3", w.root, "upstreams")); err != nil {
		t.Fatal(err)
	}
	if m, _ := w.check(t); len(m.cas[1].bundles) != 3 {
		t.Errorf("a new bundle of the signer is not selected: %v", m.cas[1].bundles)
	}
	w.expectReads(t, map[string]int{"ca": 2, "example.com:upstreams:v1": 1, "example.com:upstreams:v3": 1})
}

// A reference to an object the cache does not hold is reported without a read; a selector
// that matches nothing says so.
func TestMemoDoesNotReadMissingObjects(t *testing.T) {
	w := newMemoWorld(t)
	w.up.TLS.Validation.CACertificateRefs[0].Name = "missing"
	if _, res := w.check(t); res.reason != v1alpha1.ReasonInvalidCACertificateRef {
		t.Errorf("reason %q, want %q", res.reason, v1alpha1.ReasonInvalidCACertificateRef)
	}
	if w.direct.reads["missing"] != 0 {
		t.Errorf("a missing ConfigMap was read %d times from the API server", w.direct.reads["missing"])
	}
	w.up.TLS.Validation.CACertificateRefs = w.up.TLS.Validation.CACertificateRefs[1:]
	w.up.TLS.Validation.CACertificateRefs[0].ClusterTrustBundleSelector.LabelSelector.MatchLabels["trust"] = "nobody"
	_, res := w.check(t)
	if want := `no ClusterTrustBundle matches: ClusterTrustBundles of signer "example.com/upstreams" labelled trust=nobody`; res.reason != v1alpha1.ReasonInvalidCACertificateRef || res.detail != want {
		t.Errorf("got %s %q, want %s %q", res.reason, res.detail, v1alpha1.ReasonInvalidCACertificateRef, want)
	}
}

func TestSignerOfBundle(t *testing.T) {
	for name, want := range map[string]string{
		"example.com:upstreams:v1": "example.com/upstreams", "corporate-roots": "", "a.b.example:c.d:x": "a.b.example/c.d",
	} {
		if got := signerOfBundle(name); got != want {
			t.Errorf("signerOfBundle(%q) = %q, want %q", name, got, want)
		}
	}
}
