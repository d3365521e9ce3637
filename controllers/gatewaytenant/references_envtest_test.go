package gatewaytenant_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// held lists the keys the manager's cache holds of the kind of obj.
func held(g Gomega, obj client.Object) []string { return heldIn(g, mgrCache, obj) }

// heldIn lists the keys c holds of the kind of obj.
func heldIn(g Gomega, c cache.Cache, obj client.Object) []string {
	inf, err := c.GetInformer(ctx, obj)
	g.Expect(err).NotTo(HaveOccurred())
	return inf.(toolscache.SharedIndexInformer).GetIndexer().ListKeys()
}

func configMapMeta() *metav1.PartialObjectMetadata {
	pm := &metav1.PartialObjectMetadata{}
	pm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	return pm
}

var _ = Describe("The manager's cache", func() {
	It("holds what tenants reference and what the operator owns, and follows a CA that existed before its tenant", func() {
		referenced := func(g Gomega) []string { return heldIn(g, referencedConfigMaps, configMapMeta()) }
		ns := newNamespace()
		newService(ns, "secure")
		newService(ns, "unrelated")
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated"}, Data: map[string]string{"a": "b"},
		})).To(Succeed())
		certificates(ns) // the CA ConfigMap exists before any tenant names it
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")})
		becomeAvailable(ns)
		expectReady(t)

		Eventually(func(g Gomega) {
			g.Expect(held(g, &corev1.Service{})).To(ContainElements(ns+"/secure", ns+"/my-api-proxy"))
			g.Expect(held(g, configMapMeta())).To(HaveEach(HaveSuffix("-proxy")), "the manager's cache holds ConfigMaps that are not its own")
			g.Expect(held(g, configMapMeta())).To(ContainElement(ns + "/my-api-proxy"))
			g.Expect(referenced(g)).To(ContainElement(ns + "/upstream-ca"))
		}).Should(Succeed())
		Expect(held(Default, &corev1.Service{})).NotTo(ContainElement(ns+"/unrelated"), "a Service no tenant names is cached")
		Expect(referenced(Default)).NotTo(ContainElement(ns+"/unrelated"), "a ConfigMap no tenant names is cached")
		Expect(referenced(Default)).NotTo(ContainElement(ns+"/my-api-proxy"), "the operator's own ConfigMap is cached twice")

		By("changing the CA bundle, which the watch now brings")
		update(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"}}, func(cm *corev1.ConfigMap) {
			cm.Data = map[string]string{"ca.crt": "not a certificate"}
		})
		Eventually(func(g Gomega) {
			_, uc := upstreamStatus(g, t, "secure")
			g.Expect(uc.Reason).To(Equal(v1alpha1.ReasonInvalidCACertificateRef), uc.Message)
			g.Expect(uc.Message).To(ContainSubstring("no PEM certificate found"))
		}).Should(Succeed())

		By("changing an unrelated ConfigMap, which stays out of the cache")
		update(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unrelated"}}, func(cm *corev1.ConfigMap) {
			cm.Data = map[string]string{"a": "c"}
		})
		Consistently(func(g Gomega) {
			g.Expect(referenced(g)).NotTo(ContainElement(ns + "/unrelated"))
		}, "2s").Should(Succeed())
	})
})
