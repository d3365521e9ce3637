package gatewaytenant

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

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

// memoWorld is a namespace with a CA ConfigMap and a client certificate Secret, the memo
// in front of it, and a TLS upstream referencing both.
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
	leaf, err := root.NewLeaf("gateway", pki.ClientAuth())
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "ca"}, Data: map[string]string{caCertKey: string(root.CertPEM())}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "client"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: leaf.CertPEM(), corev1.TLSPrivateKeyKey: leaf.KeyPEM()}},
	).Build()
	direct := &countingSource{Client: api, reads: map[string]int{}}
	return &memoWorld{
		api: api, direct: direct, memo: newMemoSource(direct, api), root: root,
		up: v1alpha1.Upstream{Name: "secure", Host: "secure.team.svc", Port: 8443, TLS: &v1alpha1.UpstreamTLS{
			Validation:           v1alpha1.UpstreamTLSValidation{CACertificateRefs: []v1alpha1.CACertificateReference{{Name: gwapiv1.ObjectName("ca")}}},
			ClientCertificateRef: &v1alpha1.SecretReference{Name: "client"},
		}},
	}
}

func (w *memoWorld) check(t *testing.T) certCheck {
	t.Helper()
	m, err := readCertificates(context.Background(), w.memo, "team", w.up)
	if err != nil {
		t.Fatal(err)
	}
	return judgeCertificates("team", w.up, m, time.Now(), time.Hour)
}

func (w *memoWorld) expectReads(t *testing.T, ca, clientCert int) {
	t.Helper()
	if got := w.direct.reads["ca"]; got != ca {
		t.Errorf("CA ConfigMap read %d times from the API server, want %d", got, ca)
	}
	if got := w.direct.reads["client"]; got != clientCert {
		t.Errorf("client certificate Secret read %d times from the API server, want %d", got, clientCert)
	}
}

// An unchanged object is read once, however often its tenant is reconciled; a changed one is
// read again and judged on its new contents.
func TestMemoReadsCertificatesOnlyWhenTheyChange(t *testing.T) {
	w := newMemoWorld(t)
	for range 3 {
		if res := w.check(t); res.reason != "" {
			t.Fatalf("valid references: %s %s", res.reason, res.detail)
		}
	}
	w.expectReads(t, 1, 1)

	cm := &corev1.ConfigMap{}
	if err := w.api.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: "ca"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data[caCertKey] = "not a certificate"
	if err := w.api.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	if res := w.check(t); res.reason != v1alpha1.ReasonInvalidCACertificateRef {
		t.Errorf("after the CA ConfigMap broke: reason %q, want %q", res.reason, v1alpha1.ReasonInvalidCACertificateRef)
	}
	w.expectReads(t, 2, 1) // the client certificate Secret did not change

	cm.Data[caCertKey] = string(w.root.CertPEM())
	if err := w.api.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if res := w.check(t); res.reason != "" {
			t.Errorf("after the CA ConfigMap was mended: %s %s", res.reason, res.detail)
		}
	}
	w.expectReads(t, 3, 1)
}

// A reference to an object the cache does not hold is reported without a read.
func TestMemoDoesNotReadMissingObjects(t *testing.T) {
	w := newMemoWorld(t)
	w.up.TLS.Validation.CACertificateRefs[0].Name = "missing"
	res := w.check(t)
	if res.reason != v1alpha1.ReasonInvalidCACertificateRef {
		t.Errorf("reason %q, want %q", res.reason, v1alpha1.ReasonInvalidCACertificateRef)
	}
	if w.direct.reads["missing"] != 0 {
		t.Errorf("a missing ConfigMap was read %d times from the API server", w.direct.reads["missing"])
	}
}
