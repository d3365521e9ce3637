package kubelet_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"os"
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/kubelet"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/signer"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// TestCertificateProjections plays the kubelet for a pod with clusterTrustBundle projections
// (by name, by signer and labels) and a podCertificate projection, against the real API
// server: the trust anchors are those the bundles hold, deduplicated; the credential bundle
// is a key and the chain the signer issued for it through a PodCertificateRequest; a rotation
// swaps in a new key and certificate at once.
func TestCertificateProjections(t *testing.T) {
	env := controlplane.StartForTest(t, nil)
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	platform := &signer.Signer{Name: "platform.example/gateway-clients", CA: must(pki.NewRoot("platform clients")), Client: c}
	wait := platform.Start(ctx)
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Error(err)
		}
	})
	upstreams := &signer.Signer{Name: "platform.example/upstreams", CA: must(pki.NewRoot("platform upstreams"))}
	other := must(pki.NewRoot("other"))
	for _, b := range []*certificatesv1.ClusterTrustBundle{
		upstreams.TrustBundle("v1", map[string]string{"trust": "upstreams"}),
		upstreams.TrustBundle("v2", map[string]string{"trust": "upstreams"}), // the same CA again: deduplicated
		upstreams.TrustBundle("retired", map[string]string{"trust": "retired"}),
		{ObjectMeta: metav1.ObjectMeta{Name: "corporate-roots"}, Spec: certificatesv1.ClusterTrustBundleSpec{TrustBundle: string(other.CertPEM())}},
	} {
		if err := c.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}); err != nil {
		t.Fatal(err)
	}

	spec := &corev1.PodSpec{
		ServiceAccountName: "proxy",
		Containers:         []corev1.Container{{Name: "proxy", VolumeMounts: []corev1.VolumeMount{{Name: "up-0", MountPath: "/etc/up"}}}},
		Volumes: []corev1.Volume{{Name: "up-0", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: ptr.To("corporate-roots"), Path: "ca-0/ca.crt"}},
			{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{SignerName: ptr.To(upstreams.Name), Path: "ca-1/ca.crt",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"trust": "upstreams"}}}},
			{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{SignerName: ptr.To(upstreams.Name), Path: "ca-2/ca.crt", Optional: ptr.To(true)}},
			{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: ptr.To("gone"), Path: "ca-3/ca.crt", Optional: ptr.To(true)}},
			{PodCertificate: &corev1.PodCertificateProjection{SignerName: platform.Name, KeyType: "ECDSAP256", CredentialBundlePath: "client/credential-bundle.pem"}},
		}}}}},
	}
	pod, files, err := kubelet.Mount(ctx, c, "ns", spec, "", t.TempDir(), kubelet.WithPodCertificates(kubelet.PodCertificateRequests{Client: c}), kubelet.WithPodName("proxy-0"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(inPod string) []byte {
		t.Helper()
		local, ok := pod.HostPath(inPod)
		if !ok {
			t.Fatalf("%s is not mounted", inPod)
		}
		data, err := os.ReadFile(local)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for path, want := range map[string][]byte{
		"/etc/up/ca-0/ca.crt": other.CertPEM(),
		"/etc/up/ca-1/ca.crt": upstreams.CA.CertPEM(), // once, from v1 and v2; not the retired one's labels
		"/etc/up/ca-2/ca.crt": nil,                    // no selector matches nothing
		"/etc/up/ca-3/ca.crt": nil,                    // optional and missing: empty
	} {
		if got := read(path); !bytes.Equal(got, want) {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if !strings.Contains(sourceOf(files, "/etc/up/client/credential-bundle.pem"), platform.Name) {
		t.Errorf("files %v do not say the credential bundle comes from the signer", files)
	}
	first := credential(t, read("/etc/up/client/credential-bundle.pem"))
	if first.Leaf.Subject.CommonName != "proxy-0" || first.Leaf.Issuer.CommonName != "platform clients" ||
		first.Leaf.URIs[0].String() != "spiffe://cluster.local/ns/ns/sa/proxy" {
		t.Errorf("pod certificate %s issued by %s, URIs %v", first.Leaf.Subject, first.Leaf.Issuer, first.Leaf.URIs)
	}

	if _, err := pod.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if again := credential(t, read("/etc/up/client/credential-bundle.pem")); !again.Leaf.Equal(first.Leaf) {
		t.Error("a sync renewed the pod certificate; only a rotation does")
	}
	if _, err := pod.RotatePodCertificates(ctx); err != nil {
		t.Fatal(err)
	}
	rotated := credential(t, read("/etc/up/client/credential-bundle.pem"))
	if rotated.Leaf.Equal(first.Leaf) || rotated.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(first.Leaf.PublicKey) {
		t.Error("a rotation kept the key or the certificate")
	}
	pcrs := &certificatesv1.PodCertificateRequestList{}
	if err := c.List(ctx, pcrs, client.InNamespace("ns")); err != nil || len(pcrs.Items) != 2 {
		t.Errorf("%d PodCertificateRequests (%v), want one per key", len(pcrs.Items), err)
	}

	broken := spec.DeepCopy()
	broken.Volumes[0].Projected.Sources[1].ClusterTrustBundle.LabelSelector.MatchLabels["trust"] = "nobody"
	if _, _, err := kubelet.Mount(ctx, c, "ns", broken, "", t.TempDir(), kubelet.WithPodCertificates(kubelet.PodCertificateRequests{Client: c})); err == nil ||
		!strings.Contains(err.Error(), "none matches") {
		t.Errorf("a required projection matching no bundle mounted: %v", err)
	}
}

func sourceOf(files []kubelet.File, path string) string {
	for _, f := range files {
		if f.Path == path {
			return f.Source
		}
	}
	return ""
}

// credential parses a credential bundle as the proxy does.
func credential(t *testing.T, data []byte) *tls.Certificate {
	t.Helper()
	cert, _, err := contract.ParseCredentialBundle(data)
	if err != nil {
		t.Fatalf("credential bundle: %v", err)
	}
	return cert
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
