package gatewaytenant_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// The numbered cases of the isolation contract: each was first seen failing.

// policyNames lists the NetworkPolicies of a namespace.
func policyNames(g Gomega, ns string) []string {
	list := &networkingv1.NetworkPolicyList{}
	g.Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	var names []string
	for _, np := range list.Items {
		names = append(names, np.Name)
	}
	return names
}

var _ = Describe("A second tenant for the same Service port (case 3)", func() {
	It("is Conflicted, naming the older tenant, and nothing of it is written", func() {
		ns := newNamespace()
		newService(ns, "secure", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9443) })
		certificates(ns)
		first := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")})
		Eventually(func(g Gomega) {
			g.Expect(condition(g, first, v1alpha1.ConditionNetworkPolicyReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		before := policyNames(Default, ns)

		By("applying the plain sample's tenant for the same Service beside it")
		second := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "secure")}, func(t *v1alpha1.GatewayTenant) { t.Name = "zz-plain" })
		Eventually(func(g Gomega) {
			c := condition(g, second, v1alpha1.ConditionAccepted)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonConflicted))
			g.Expect(c.Message).To(ContainSubstring(`GatewayTenant "my-api" already exposes secure.` + ns + `.svc port 8443`))
			g.Expect(condition(g, second, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonConflicted))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(policyNames(g, ns)).To(ConsistOf(before))
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())
		Expect(condition(Default, first, v1alpha1.ConditionAccepted).Status).To(Equal(metav1.ConditionTrue))

		By("taking over the namespace when the older tenant goes")
		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(g, second, v1alpha1.ConditionAccepted).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(policyNames(g, ns)).To(ContainElement("zz-plain.secure-from-gateway"))
		}).Should(Succeed())
	})
})

var _ = Describe("Generated names (case 3)", func() {
	It("cannot collide, even for a plain upstream named proxy beside a TLS upstream", func() {
		ns := newNamespace()
		newService(ns, "proxy")
		newService(ns, "secure")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "proxy"), tlsUpstream(ns, "secure")})
		Eventually(func(g Gomega) {
			g.Expect(condition(g, t, v1alpha1.ConditionNetworkPolicyReady).Status).To(Equal(metav1.ConditionTrue))
			g.Expect(policyNames(g, ns)).To(ConsistOf("my-api.proxy-from-gateway", "my-api-proxy", "my-api.secure-from-proxy"))
		}).Should(Succeed())
		Expect(get(ns, "my-api.proxy-from-gateway", &networkingv1.NetworkPolicy{}).Spec.PodSelector.MatchLabels).To(Equal(map[string]string{"name": "proxy"}))
	})

	It("cannot collide between tenants: a with upstream b-c, a-b with upstream c", func() {
		ns := newNamespace()
		newService(ns, "b-c")
		newService(ns, "c")
		bc := upstream(ns, "b-c")
		a := newTenant(ns, []v1alpha1.Upstream{bc}, func(t *v1alpha1.GatewayTenant) { t.Name = "a" })
		ab := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "c")}, func(t *v1alpha1.GatewayTenant) { t.Name = "a-b" })
		expectReady(a)
		expectReady(ab)
		Expect(policyNames(Default, ns)).To(ConsistOf("a.b-c-from-gateway", "a-b.c-from-gateway"))
	})
})

var _ = Describe("A typo in one of two TLS upstreams (case 4)", func() {
	It("keeps that upstream's last good proxy configuration and changes nothing for the other", func() {
		ns := newNamespace()
		newService(ns, "one")
		newService(ns, "two")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "one"), tlsUpstream(ns, "two")})
		becomeAvailable(ns)
		expectReady(t)
		cm := get(ns, "my-api-proxy", &corev1.ConfigMap{})
		svc := get(ns, "my-api-proxy", &corev1.Service{})
		policies := policyNames(Default, ns)
		gw := get(ns, "my-api-proxy", &networkingv1.NetworkPolicy{})
		twoBefore, _ := upstreamStatus(Default, t, "two")
		Expect(twoBefore.GatewayHost).To(Equal("my-api-proxy." + ns + ".svc"))

		update(t, func(t *v1alpha1.GatewayTenant) {
			t.Spec.Upstreams[1].TLS.Validation.CACertificateRefs[0].Name = "upstream-cq"
		})
		Eventually(func(g Gomega) {
			two, c := upstreamStatus(g, t, "two")
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonInvalidCACertificateRef))
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			By("saying that it serves the last good spec, where, and why the new one is refused")
			g.Expect(two.GatewayHost).To(Equal(twoBefore.GatewayHost))
			g.Expect(two.GatewayPort).To(Equal(twoBefore.GatewayPort))
			g.Expect(c.Message).To(ContainSubstring(`ConfigMap "upstream-cq" not found`))
			g.Expect(c.Message).To(ContainSubstring("last good spec"))
			g.Expect(c.Message).To(ContainSubstring(fmt.Sprintf("%s:%d", twoBefore.GatewayHost, twoBefore.GatewayPort)))
			np := condition(g, t, v1alpha1.ConditionNetworkPolicyReady)
			g.Expect(np.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(np.Message).To(ContainSubstring("[one, two (last good spec)]"))
			_, c = upstreamStatus(g, t, "one")
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			now := &corev1.ConfigMap{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cm), now)).To(Succeed())
			g.Expect(now.Data).To(Equal(cm.Data))
			cfg, err := contract.ParseConfig([]byte(now.Data["proxy.yaml"]))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cfg.Upstreams).To(HaveLen(2))
			nowSvc := &corev1.Service{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(svc), nowSvc)).To(Succeed())
			g.Expect(nowSvc.Spec.Ports).To(Equal(svc.Spec.Ports))
			nowGW := &networkingv1.NetworkPolicy{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(gw), nowGW)).To(Succeed())
			g.Expect(nowGW.Spec).To(Equal(gw.Spec))
			g.Expect(policyNames(g, ns)).To(ConsistOf(policies))
		}, 3*time.Second, 200*time.Millisecond).Should(Succeed())

		By("removing its objects only when the upstream leaves the spec")
		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams = t.Spec.Upstreams[:1] })
		Eventually(func(g Gomega) {
			g.Expect(policyNames(g, ns)).NotTo(ContainElement("my-api.two-from-proxy"))
			now := &corev1.Service{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(svc), now)).To(Succeed())
			g.Expect(now.Spec.Ports).To(HaveLen(1))
		}).Should(Succeed())
	})
})

var _ = Describe("A generated policy whose labels were removed (case 5)", func() {
	It("is found and repaired, hand-added rules included", func() {
		ns := newNamespace()
		newService(ns, "api")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "api")})
		expectReady(t)
		np := networkPolicy(ns, "api")
		want := np.Spec.DeepCopy()

		update(np, func(np *networkingv1.NetworkPolicy) {
			np.Labels = nil
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{}) // allow all
		})
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(np), np)).To(Succeed())
			g.Expect(np.Spec).To(Equal(*want))
			g.Expect(np.Labels).To(HaveKeyWithValue(v1alpha1.LabelTenant, "my-api"))
			g.Expect(condition(g, t, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
	})
})

var _ = Describe("Misleading input (case 8)", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	expectUpstreamReason := func(t *v1alpha1.GatewayTenant, name, reason, message string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			_, c := upstreamStatus(g, t, name)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(reason))
			g.Expect(c.Message).To(ContainSubstring(message))
		}).Should(Succeed())
	}

	It("refuses a leaf certificate given as the CA", func() {
		newService(ns, "secure")
		chain := certificates(ns)
		update(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"}}, func(cm *corev1.ConfigMap) {
			cm.Data["ca.crt"] = string(chain.Leaf.CertPEM())
		})
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")})
		expectUpstreamReason(t, "secure", v1alpha1.ReasonInvalidCACertificateRef, "is not a CA certificate")
	})

	It("refuses a UDP Service port, and opens no UDP", func() {
		newService(ns, "dns", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolUDP })
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "dns")})
		expectUpstreamReason(t, "dns", v1alpha1.ReasonPortNotTCP, "is UDP")
		Expect(policyNames(Default, ns)).To(BeEmpty())
	})

	It("refuses the same Service and port listed twice, keeping the first", func() {
		newService(ns, "api")
		second := upstream(ns, "api")
		second.Name = "api-again"
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "api"), second})
		expectUpstreamReason(t, "api-again", v1alpha1.ReasonDuplicateServicePort, `upstream "api" already exposes`)
		Eventually(func(g Gomega) { g.Expect(policyNames(g, ns)).To(ConsistOf("my-api.api-from-gateway")) }).Should(Succeed())
	})

	It("gives an ExternalName Service its own reason", func() {
		newService(ns, "external", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "api.example.com",
				Ports: []corev1.ServicePort{{Name: "https", Port: 8443}}}
		})
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "external")})
		expectUpstreamReason(t, "external", v1alpha1.ReasonExternalNameService, "point the gateway at api.example.com directly")
	})

	It("shows a certificate entering its warning window at the tenant, with a Warning event, still Ready", func() {
		newService(ns, "secure")
		chain, err := pki.NewChain()
		Expect(err).NotTo(HaveOccurred())
		soon, err := pki.NewRoot("expiring root", pki.Validity(time.Now().Add(-time.Hour), time.Now().Add(expiryWarning/2)))
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"},
			Data:       map[string]string{"ca.crt": string(soon.CertPEM()) + string(chain.Root.CertPEM())},
		})).To(Succeed())
		u := tlsUpstream(ns, "secure")
		u.TLS.ClientCertificateRef = nil
		t := newTenant(ns, []v1alpha1.Upstream{u})
		becomeAvailable(ns)
		Eventually(func(g Gomega) {
			c := condition(g, t, v1alpha1.ConditionReady)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonCertificateExpiringSoon))
			g.Expect(c.Message).To(ContainSubstring(`certificate "expiring root" expires at`))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			events := &eventsv1.EventList{}
			g.Expect(k8sClient.List(ctx, events, client.InNamespace(ns))).To(Succeed())
			var found bool
			for _, e := range events.Items {
				found = found || e.Type == corev1.EventTypeWarning && e.Reason == v1alpha1.ReasonCertificateExpiringSoon &&
					e.Regarding.Name == "my-api" && strings.Contains(e.Note, "expiring root")
			}
			g.Expect(found).To(BeTrue(), "no Warning event CertificateExpiringSoon for the tenant")
		}).Should(Succeed())
	})
})
