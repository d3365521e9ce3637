package gatewaytenant_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

var _ = Describe("Certificate references of TLS upstreams", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	type certCase struct {
		reason  string
		message string
		// break_ spoils the tenant or the certificate objects; fix mends the objects only.
		break_ func(ns string, t *v1alpha1.GatewayTenant, chain *pki.Chain)
		fix    func(ns string, chain *pki.Chain)
		// fixesTenant: the problem is in the tenant, so the fix edits it.
		fixesTenant bool
	}
	caConfigMap := func(ns string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"}}
	}
	restoreCA := func(ns string, chain *pki.Chain) {
		update(caConfigMap(ns), func(cm *corev1.ConfigMap) { cm.Data = map[string]string{"ca.crt": string(chain.Root.CertPEM())} })
	}

	DescribeTable("reports the problem in status and recovers once the object is fixed, without touching the tenant",
		func(c certCase) {
			newService(ns, "secure")
			chain := certificates(ns)
			t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")}, func(t *v1alpha1.GatewayTenant) { c.break_(ns, t, chain) })
			Eventually(func(g Gomega) {
				_, uc := upstreamStatus(g, t, "secure")
				g.Expect(uc.Reason).To(Equal(c.reason), uc.Message)
				g.Expect(uc.Message).To(ContainSubstring(c.message))
				g.Expect(condition(g, t, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
			}).Should(Succeed())
			generation := t.Generation
			c.fix(ns, chain)
			becomeAvailable(ns)
			expectReady(t)
			if !c.fixesTenant {
				Expect(t.Generation).To(Equal(generation), "fixed by mending the referenced object alone")
			}
		},
		Entry("CA ConfigMap missing", certCase{
			reason: v1alpha1.ReasonInvalidCACertificateRef, message: `ConfigMap "upstream-ca" not found`,
			break_: func(ns string, _ *v1alpha1.GatewayTenant, _ *pki.Chain) {
				Expect(k8sClient.Delete(ctx, caConfigMap(ns))).To(Succeed())
			},
			fix: func(ns string, chain *pki.Chain) {
				cm := caConfigMap(ns)
				cm.Data = map[string]string{"ca.crt": string(chain.Root.CertPEM())}
				Expect(k8sClient.Create(ctx, cm)).To(Succeed())
			},
		}),
		Entry("ca.crt key absent", certCase{
			reason: v1alpha1.ReasonInvalidCACertificateRef, message: `ConfigMap "upstream-ca" has no key "ca.crt"`,
			break_: func(ns string, _ *v1alpha1.GatewayTenant, _ *pki.Chain) {
				update(caConfigMap(ns), func(cm *corev1.ConfigMap) { cm.Data = map[string]string{"root.crt": "x"} })
			},
			fix: restoreCA,
		}),
		Entry("not PEM", certCase{
			reason: v1alpha1.ReasonInvalidCACertificateRef, message: "no PEM certificate found",
			break_: func(ns string, _ *v1alpha1.GatewayTenant, _ *pki.Chain) {
				update(caConfigMap(ns), func(cm *corev1.ConfigMap) { cm.Data = map[string]string{"ca.crt": "not a certificate"} })
			},
			fix: restoreCA,
		}),
		Entry("unsupported kind", certCase{
			reason: v1alpha1.ReasonInvalidKind, message: `kind "Service" of group "" is not supported`, fixesTenant: true,
			break_: func(_ string, t *v1alpha1.GatewayTenant, _ *pki.Chain) {
				t.Spec.Upstreams[0].TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Kind: "Service", Name: "secure"}}
			},
			fix: restoreTenantCARef,
		}),
		Entry("none of several CA references usable", certCase{
			reason: v1alpha1.ReasonNoValidCACertificate, message: "none of the 2 CA certificate references is usable", fixesTenant: true,
			break_: func(_ string, t *v1alpha1.GatewayTenant, _ *pki.Chain) {
				t.Spec.Upstreams[0].TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Name: "ca-a"}, bundleRef("no-such-bundle")}
			},
			fix: restoreTenantCARef,
		}),
		Entry("CA expired", certCase{
			reason: v1alpha1.ReasonCertificateExpired, message: `certificate "old-root" expired at`,
			break_: func(ns string, _ *v1alpha1.GatewayTenant, _ *pki.Chain) {
				old, err := pki.NewRoot("old-root", pki.Expired())
				Expect(err).NotTo(HaveOccurred())
				update(caConfigMap(ns), func(cm *corev1.ConfigMap) { cm.Data = map[string]string{"ca.crt": string(old.CertPEM())} })
			},
			fix: restoreCA,
		}),
	)

	It("warns, stays Ready, and serves, when a CA expires soon", func() {
		newService(ns, "secure")
		chain := certificates(ns)
		soon, err := pki.NewRoot("soon", pki.Validity(time.Now().Add(-time.Hour), time.Now().Add(72*time.Hour)))
		Expect(err).NotTo(HaveOccurred())
		update(caConfigMap(ns), func(cm *corev1.ConfigMap) {
			cm.Data = map[string]string{"ca.crt": string(chain.Root.CertPEM()) + string(soon.CertPEM())}
		})
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")})
		becomeAvailable(ns)
		expectReady(t)
		Eventually(func(g Gomega) {
			us, c := upstreamStatus(g, t, "secure")
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonCertificateExpiringSoon))
			g.Expect(c.Message).To(ContainSubstring(`certificate "soon" expires at`))
			g.Expect(us.GatewayHost).NotTo(BeEmpty())
		}).Should(Succeed())
	})
})

// restoreTenantCARef points the tenant's only upstream back at ConfigMap upstream-ca.
func restoreTenantCARef(ns string, _ *pki.Chain) {
	t := &v1alpha1.GatewayTenant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api"}}
	update(t, func(t *v1alpha1.GatewayTenant) {
		t.Spec.Upstreams[0].TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Name: "upstream-ca"}}
	})
}
