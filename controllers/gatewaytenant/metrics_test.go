package gatewaytenant_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/metrics"
)

// certificateSeries are the manager's certificate expiry series of a namespace, by
// "<kind> <ref>", from the registry its metrics endpoint serves.
func certificateSeries(g Gomega, ns string) map[string]float64 {
	families, err := crmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != metrics.CertificateNotAfter {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "namespace") == ns {
				out[label(m, "kind")+" "+label(m, "ref")] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

var _ = Describe("The manager's domain metrics", func() {
	It("export each referenced certificate's expiry while the tenant references it", func() {
		ns := newNamespace()
		newService(ns, "secure")
		chain := certificates(ns)
		bundle := trustBundle(ns+"-metrics", nil, must(pki.NewRoot("bundled")))
		u := tlsUpstream(ns, "secure")
		u.TLS.Validation.CACertificateRefs = append(u.TLS.Validation.CACertificateRefs, bundleRef(bundle.Name))
		t := newTenant(ns, []v1alpha1.Upstream{u})

		Eventually(func(g Gomega) {
			series := certificateSeries(g, ns)
			g.Expect(series).To(HaveLen(2))
			g.Expect(series).To(HaveKeyWithValue("ca ConfigMap/upstream-ca", float64(chain.Root.Cert.NotAfter.Unix())))
			g.Expect(series).To(HaveKeyWithValue("ca ClusterTrustBundle/"+bundle.Name, BeNumerically(">", 0)))
		}).Should(Succeed())

		By("dropping the series of a reference the tenant no longer makes")
		update(t, func(t *v1alpha1.GatewayTenant) {
			t.Spec.Upstreams[0].TLS.Validation.CACertificateRefs = t.Spec.Upstreams[0].TLS.Validation.CACertificateRefs[:1]
		})
		Eventually(func(g Gomega) {
			g.Expect(certificateSeries(g, ns)).To(HaveLen(1))
			g.Expect(certificateSeries(g, ns)).To(HaveKey("ca ConfigMap/upstream-ca"))
		}).Should(Succeed())

		By("dropping every series of a deleted tenant")
		Expect(k8sClient.Delete(ctx, t)).To(Succeed())
		Eventually(func(g Gomega) { g.Expect(certificateSeries(g, ns)).To(BeEmpty()) }).Should(Succeed())
	})

	It("count tenants by their Ready status and reason", func() {
		ns := newNamespace()
		newService(ns, "plain")
		newTenant(ns, []v1alpha1.Upstream{upstream(ns, "plain")}, func(t *v1alpha1.GatewayTenant) { t.Spec.DataPlane = "no-such-plane" })
		Eventually(func(g Gomega) {
			families, err := crmetrics.Registry.Gather()
			g.Expect(err).NotTo(HaveOccurred())
			var notFound float64
			for _, f := range families {
				for _, m := range f.GetMetric() {
					if f.GetName() == metrics.TenantsName && label(m, "reason") == v1alpha1.ReasonDataPlaneNotFound {
						notFound = m.GetGauge().GetValue()
					}
				}
			}
			g.Expect(notFound).To(BeNumerically(">=", 1))
		}).Should(Succeed())
	})
})
