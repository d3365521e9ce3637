package gatewaytenant_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

var _ = Describe("Certificate contents", func() {
	It("are read from the API server again only when their object changed", func() {
		ns := newNamespace()
		newService(ns, "secure")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")})
		becomeAvailable(ns)
		expectReady(t)
		path := "/api/v1/namespaces/" + ns + "/configmaps/upstream-ca"
		reads := func() int {
			n := 0
			for _, r := range recordedRequests(path) {
				if r.method == "GET" && r.path == path {
					n++
				}
			}
			return n
		}
		Expect(reads()).To(BeNumerically(">=", 1), "the CA ConfigMap was never read")
		before := reads()

		By("reconciling the tenant for an edit that leaves its ConfigMap as it is")
		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Environments = []v1alpha1.EnvironmentName{"test"} })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
			g.Expect(t.Status.ObservedGeneration).To(Equal(t.Generation))
		}).Should(Succeed())
		Expect(reads()).To(Equal(before), "an unchanged ConfigMap was read again")

		By("replacing the CA")
		expired, err := pki.NewRoot("old root", pki.Expired())
		Expect(err).NotTo(HaveOccurred())
		update(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"}}, func(cm *corev1.ConfigMap) {
			cm.Data = map[string]string{"ca.crt": string(expired.CertPEM())}
		})
		Eventually(func(g Gomega) {
			_, uc := upstreamStatus(g, t, "secure")
			g.Expect(uc.Reason).To(Equal(v1alpha1.ReasonCertificateExpired), uc.Message)
		}).Should(Succeed())
		Expect(reads()).To(BeNumerically(">", before), "the changed ConfigMap was judged without being read")
	})
})
