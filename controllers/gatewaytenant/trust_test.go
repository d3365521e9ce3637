package gatewaytenant_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

// trustBundle creates a ClusterTrustBundle holding cas: linked to a signer when its name has
// one (<signer domain>:<signer path>:<suffix>), with labels.
func trustBundle(name string, labels map[string]string, cas ...*pki.Cert) *certificatesv1.ClusterTrustBundle {
	GinkgoHelper()
	b := &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if i := strings.LastIndex(name, ":"); i > 0 {
		b.Spec.SignerName = strings.ReplaceAll(name[:i], ":", "/")
	}
	for _, ca := range cas {
		b.Spec.TrustBundle += string(ca.CertPEM())
	}
	Expect(k8sClient.Create(ctx, b)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, b))).To(Succeed()) })
	return b
}

// bundleRef is a CA reference to the ClusterTrustBundle named name.
func bundleRef(name string) v1alpha1.CACertificateReference {
	return v1alpha1.CACertificateReference{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle", Name: v1alpha1.CACertificateRefName(name)}
}

// signerRef is a CA reference to the ClusterTrustBundles of signer labelled labels (nil: all).
func signerRef(signer string, labels map[string]string) v1alpha1.CACertificateReference {
	sel := &v1alpha1.ClusterTrustBundleSelector{SignerName: v1alpha1.SignerName(signer)}
	if labels != nil {
		sel.LabelSelector = &metav1.LabelSelector{MatchLabels: labels}
	}
	return v1alpha1.CACertificateReference{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle", ClusterTrustBundleSelector: sel}
}

// trustingOnly is tlsUpstream(ns, name) trusting refs only.
func trustingOnly(ns, name string, refs ...v1alpha1.CACertificateReference) v1alpha1.Upstream {
	u := tlsUpstream(ns, name)
	u.TLS.Validation.CACertificateRefs = refs
	return u
}

// upstreamReason waits until upstream "secure" of t has Ready reason and a message with
// message, and returns its status.
func upstreamReason(t *v1alpha1.GatewayTenant, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	GinkgoHelper()
	var c metav1.Condition
	Eventually(func(g Gomega) {
		_, c = upstreamStatus(g, t, "secure")
		g.Expect(c.Status).To(Equal(status), c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		g.Expect(c.Message).To(ContainSubstring(message))
	}).Should(Succeed())
	return c
}

var _ = Describe("ClusterTrustBundles as CA sources", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		newService(ns, "secure")
	})

	It("trusts a bundle by name, mounted through the kubelet's projection, and waits for one that is missing", func() {
		chain := must(pki.NewChain())
		t := newTenant(ns, []v1alpha1.Upstream{trustingOnly(ns, "secure", bundleRef(ns+"-roots"))})
		upstreamReason(t, metav1.ConditionFalse, v1alpha1.ReasonInvalidCACertificateRef, `ClusterTrustBundle "`+ns+`-roots" not found`)

		By("publishing the bundle: its creation alone brings the tenant round")
		trustBundle(ns+"-roots", nil, chain.Root)
		becomeAvailable(ns)
		expectReady(t)
		dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
		Expect(projections(dep)).To(ContainElement(corev1.VolumeProjection{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{
			Name: ptr.To(ns + "-roots"), Path: "ca-0/ca.crt", Optional: ptr.To(true)}}))
		expectProxyCheckPasses(ns, dep)
		Expect(recordedRequests("/secrets")).To(BeEmpty())
	})

	It("trusts every bundle of a signer whose labels match, and follows them without rolling the proxy", func() {
		signer := ns + ".example/upstreams"
		prefix := strings.ReplaceAll(signer, "/", ":") + ":"
		first, next := must(pki.NewChain()), must(pki.NewChain())
		trust := map[string]string{"trust": "upstreams"}
		t := newTenant(ns, []v1alpha1.Upstream{trustingOnly(ns, "secure", signerRef(signer, trust))})
		upstreamReason(t, metav1.ConditionFalse, v1alpha1.ReasonInvalidCACertificateRef,
			`no ClusterTrustBundle matches: ClusterTrustBundles of signer "`+signer+`" labelled trust=upstreams`)

		trustBundle(prefix+"other-labels", map[string]string{"trust": "retired"}, next.Root)
		trustBundle(prefix+"v1", trust, first.Root)
		becomeAvailable(ns)
		expectReady(t)
		dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
		Expect(projections(dep)).To(ContainElement(corev1.VolumeProjection{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{
			SignerName: ptr.To(signer), LabelSelector: &metav1.LabelSelector{MatchLabels: trust}, Path: "ca-0/ca.crt", Optional: ptr.To(true)}}))
		pod := mountPod(ns, dep)
		Expect(pod.read("/etc/gatewaytenant/upstreams/secure/ca-0/ca.crt")).To(Equal(string(first.Root.CertPEM())),
			"the kubelet mounts the labelled bundle only")

		By("the signer publishing its next CA beside the first: no change to the proxy's pod")
		generation := dep.Generation
		trustBundle(prefix+"v2", trust, next.Root)
		Eventually(func() string { return mountPod(ns, dep).read("/etc/gatewaytenant/upstreams/secure/ca-0/ca.crt") }).
			Should(And(ContainSubstring(string(first.Root.CertPEM())), ContainSubstring(string(next.Root.CertPEM()))))
		Consistently(func() int64 { return get(ns, "my-api-proxy", &appsv1.Deployment{}).Generation }, 3*time.Second, 200*time.Millisecond).
			Should(Equal(generation))
		expectReady(t)
	})

	It("reports a bundle's problems as it reports a ConfigMap's", func() {
		By("the API server refusing a bundle that holds a leaf or nothing, so none reaches a tenant")
		chain := must(pki.NewChain())
		leaf := &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: ns + "-leaf"},
			Spec: certificatesv1.ClusterTrustBundleSpec{TrustBundle: string(chain.Leaf.CertPEM())}}
		Expect(k8sClient.Create(ctx, leaf)).To(MatchError(ContainSubstring("entry 0 does not have the CA bit set")))
		empty := &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: ns + "-empty"}}
		Expect(k8sClient.Create(ctx, empty)).To(MatchError(ContainSubstring("at least one trust anchor must be provided")))

		By("a root that expires within the warning window: a warning, still Ready")
		soon := must(pki.NewRoot("soon root", pki.Validity(time.Now().Add(-time.Hour), time.Now().Add(expiryWarning/2))))
		b := trustBundle(ns+"-soon", nil, soon)
		t := newTenant(ns, []v1alpha1.Upstream{trustingOnly(ns, "secure", bundleRef(b.Name))})
		becomeAvailable(ns)
		upstreamReason(t, metav1.ConditionTrue, v1alpha1.ReasonCertificateExpiringSoon, `certificate "soon root" expires at`)
		Eventually(func(g Gomega) {
			g.Expect(condition(g, t, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonCertificateExpiringSoon))
		}).Should(Succeed())

		By("an expired root")
		old := must(pki.NewRoot("old root", pki.Expired()))
		update(b, func(b *certificatesv1.ClusterTrustBundle) { b.Spec.TrustBundle = string(old.CertPEM()) })
		upstreamReason(t, metav1.ConditionFalse, v1alpha1.ReasonCertificateExpired, `certificate "old root" expired at`)
	})
})

// projections are the projected sources of every volume of dep's pod.
func projections(dep *appsv1.Deployment) []corev1.VolumeProjection {
	var out []corev1.VolumeProjection
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Projected != nil {
			out = append(out, v.Projected.Sources...)
		}
	}
	return out
}
