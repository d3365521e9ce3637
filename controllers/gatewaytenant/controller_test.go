package gatewaytenant_test

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
)

// tcpPort is the NetworkPolicy port of a target port.
func tcpPort(p intstr.IntOrString) networkingv1.NetworkPolicyPort {
	tcp := corev1.ProtocolTCP
	return networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &p}
}

// pinned is a peer of the tenant guide's policy as the presets write it: its labels, and the
// gateway namespace's name (<name label>-<environment>), which copied labels cannot match.
func pinned(from []networkingv1.NetworkPolicyPeer, cluster string) []networkingv1.NetworkPolicyPeer {
	out := make([]networkingv1.NetworkPolicyPeer, 0, len(from))
	for _, p := range from {
		p = *p.DeepCopy()
		env := p.NamespaceSelector.MatchLabels["environment"]
		p.NamespaceSelector.MatchExpressions = []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{cluster + "-" + env}},
		}
		out = append(out, p)
	}
	return out
}

var _ = Describe("GatewayTenant with plain upstreams", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("produces the tenant guide's Silver policy for the default data plane, on the target port only", func() {
		newService(ns, "my-upstream-api")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "my-upstream-api")})
		expectReady(t)

		np := networkPolicy(ns, "my-upstream-api")
		guide := tenantGuidePolicy("testdata/tenant-guide-silver.yaml")
		Expect(np.Spec.PodSelector).To(Equal(guide.Spec.PodSelector))
		Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}))
		Expect(np.Spec.Ingress).To(HaveLen(len(guide.Spec.Ingress)))
		for i, rule := range np.Spec.Ingress {
			Expect(rule.From).To(Equal(pinned(guide.Spec.Ingress[i].From, "264e6f")))
			Expect(rule.Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcpPort(intstr.FromInt32(8443))}))
		}

		Expect(t.Status.DataPlane).To(Equal("aps-silver"))
		Expect(t.Status.Upstreams).To(HaveLen(1))
		Expect(t.Status.Upstreams[0].GatewayHost).To(Equal("my-upstream-api." + ns + ".svc"))
		Expect(t.Status.Upstreams[0].GatewayPort).To(Equal(int32(8443)))
		for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionResolvedRefs, v1alpha1.ConditionNetworkPolicyReady} {
			Expect(condition(Default, t, typ).Status).To(Equal(metav1.ConditionTrue), typ)
		}

		By("owning the policy so that deleting the tenant removes it")
		owner := metav1.GetControllerOf(np)
		Expect(owner).NotTo(BeNil())
		Expect(owner.UID).To(Equal(t.UID))
		Expect(*owner.BlockOwnerDeletion).To(BeTrue())
		Expect(np.Labels).To(HaveKeyWithValue(v1alpha1.LabelTenant, "my-api"))
		Expect(np.Labels).To(HaveKeyWithValue(v1alpha1.LabelUpstream, "my-upstream-api"))
	})

	It("produces the tenant guide's Gold policy for a tenant naming the Gold data plane", func() {
		gold, err := dataplane.Preset("gold")
		Expect(err).NotTo(HaveOccurred())
		gold.Spec.Default = false
		gold.Labels = nil
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, gold))).To(Succeed())

		newService(ns, "my-upstream-api")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "my-upstream-api")},
			func(t *v1alpha1.GatewayTenant) { t.Spec.DataPlane = "aps-gold" })
		expectReady(t)
		np := networkPolicy(ns, "my-upstream-api")
		guide := tenantGuidePolicy("testdata/tenant-guide-gold.yaml")
		Expect(np.Spec.PodSelector).To(Equal(guide.Spec.PodSelector))
		for i, rule := range np.Spec.Ingress {
			Expect(rule.From).To(Equal(pinned(guide.Spec.Ingress[i].From, "b8840c")))
		}
		Expect(t.Status.DataPlane).To(Equal("aps-gold"))
	})

	It("opens only the environments the tenant lists, pinned by name when the data plane says so", func() {
		pinned := &v1alpha1.GatewayDataPlane{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "pinned-"},
			Spec: v1alpha1.GatewayDataPlaneSpec{Environments: []v1alpha1.DataPlaneEnvironment{
				{Name: "test", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "test", "name": "264e6f"}}, NamespaceNames: []string{"264e6f-test"}},
				{Name: "prod", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": "prod", "name": "264e6f"}}},
			}},
		}
		Expect(k8sClient.Create(ctx, pinned)).To(Succeed())
		newService(ns, "api")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "api")}, func(t *v1alpha1.GatewayTenant) {
			t.Spec.DataPlane = pinned.Name
			t.Spec.Environments = []v1alpha1.EnvironmentName{"test"}
		})
		expectReady(t)
		np := networkPolicy(ns, "api")
		Expect(np.Spec.Ingress).To(HaveLen(1))
		Expect(np.Spec.Ingress[0].From).To(Equal([]networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"environment": "test", "name": "264e6f"},
			MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{"264e6f-test"}},
			},
		}}}))
	})

	It("opens a named target port by name, and an unset one as the Service port", func() {
		newService(ns, "named", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("https") })
		newService(ns, "unset", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP})
		})
		u := upstream(ns, "unset")
		u.Port = 8080
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "named"), u})
		expectReady(t)
		Expect(networkPolicy(ns, "named").Spec.Ingress[0].Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcpPort(intstr.FromString("https"))}))
		// The API server defaults an unset targetPort to the port; the policy follows it.
		Expect(networkPolicy(ns, "unset").Spec.Ingress[0].Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcpPort(intstr.FromInt32(8080))}))
	})

	It("follows changes of the Service and of the data plane", func() {
		svc := newService(ns, "api")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "api")})
		expectReady(t)

		update(svc, func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "api-v2"} })
		Eventually(func() map[string]string { return networkPolicy(ns, "api").Spec.PodSelector.MatchLabels }).
			Should(Equal(map[string]string{"app": "api-v2"}))

		update(svc, func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9443) })
		Eventually(func() []networkingv1.NetworkPolicyPort { return networkPolicy(ns, "api").Spec.Ingress[0].Ports }).
			Should(Equal([]networkingv1.NetworkPolicyPort{tcpPort(intstr.FromInt32(9443))}))
	})

	It("repairs drift of its NetworkPolicy and recreates it when deleted", func() {
		newService(ns, "api")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "api")})
		expectReady(t)
		want := networkPolicy(ns, "api").Spec

		update(networkPolicy(ns, "api"), func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
		})
		Eventually(func() networkingv1.NetworkPolicySpec { return networkPolicy(ns, "api").Spec }).Should(Equal(want))

		np := networkPolicy(ns, "api")
		Expect(k8sClient.Delete(ctx, np)).To(Succeed())
		Eventually(func(g Gomega) {
			again := networkPolicy(ns, "api")
			g.Expect(again.UID).NotTo(Equal(np.UID))
			g.Expect(again.Spec).To(Equal(want))
		}).Should(Succeed())
	})

	It("keeps what works when an upstream becomes invalid, and removes upstreams taken out of spec", func() {
		newService(ns, "a")
		newService(ns, "b")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "a"), upstream(ns, "b")})
		expectReady(t)
		before := networkPolicy(ns, "b")

		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[1].Port = 9999 })
		Eventually(func(g Gomega) {
			_, c := upstreamStatus(g, t, "b")
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonPortNotFound))
		}).Should(Succeed())
		Expect(condition(Default, t, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonInvalidUpstreams))
		a, ac := upstreamStatus(Default, t, "a")
		Expect(ac.Status).To(Equal(metav1.ConditionTrue))
		Expect(a.GatewayHost).To(Equal("a." + ns + ".svc"))
		b, bc := upstreamStatus(Default, t, "b")
		Expect(b.GatewayHost).To(Equal("b."+ns+".svc"), "the gateway still reaches the kept upstream where it did")
		Expect(b.GatewayPort).To(Equal(int32(8443)))
		Expect(bc.Message).To(ContainSubstring("last good spec"))
		Expect(condition(Default, t, v1alpha1.ConditionNetworkPolicyReady).Message).To(ContainSubstring("[a, b (last good spec)]"))
		Expect(networkPolicy(ns, "a").Spec.PodSelector.MatchLabels).To(HaveKeyWithValue("name", "a"))
		after := networkPolicy(ns, "b")
		Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the invalid upstream's last good policy is kept untouched")

		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams = t.Spec.Upstreams[:1] })
		Eventually(func() bool {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(before), &networkingv1.NetworkPolicy{})
			return apierrors.IsNotFound(err)
		}).Should(BeTrue())
		expectReady(t)
	})

	It("writes nothing once settled, even when reconciled again", func() {
		svc := newService(ns, "api")
		newService(ns, "secure")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "api"), tlsUpstream(ns, "secure")})
		becomeAvailable(ns)
		expectReady(t)

		settled := settledWrites()

		// Changes that trigger reconciles but change nothing the tenant depends on.
		before := reconciles()
		update(svc, func(s *corev1.Service) { s.Annotations = map[string]string{"touched": "yes"} })
		update(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"}}, func(cm *corev1.ConfigMap) {
			cm.Annotations = map[string]string{"touched": "yes"}
		})
		Eventually(reconciles).Should(BeNumerically(">=", before+2))
		Consistently(writes.Load, 3*time.Second, 200*time.Millisecond).Should(Equal(settled))
	})
})

var _ = Describe("GatewayTenant validation into status", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	type validationCase struct {
		reason   string
		upstream bool // the reason is on the upstream's condition, not only the tenant's
		message  string
		break_   func(ns string, t *v1alpha1.GatewayTenant)
		fix      func(ns string, t *v1alpha1.GatewayTenant)
	}
	DescribeTable("reports the problem, names the object, and recovers once fixed",
		func(c validationCase) {
			newService(ns, "api", func(s *corev1.Service) { s.Spec.Selector = nil })
			t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "api")}, func(t *v1alpha1.GatewayTenant) { c.break_(ns, t) })
			Eventually(func(g Gomega) {
				ready := condition(g, t, v1alpha1.ConditionReady)
				g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(ready.Message).To(ContainSubstring(strings.ReplaceAll(c.message, "{ns}", ns)))
				if c.upstream {
					_, uc := upstreamStatus(g, t, "api")
					g.Expect(uc.Reason).To(Equal(c.reason))
					g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonInvalidUpstreams))
				} else {
					g.Expect(ready.Reason).To(Equal(c.reason))
				}
			}).Should(Succeed())
			c.fix(ns, t)
			expectReady(t)
			networkPolicy(ns, "api")
		},
		Entry("host in another namespace", validationCase{
			reason: v1alpha1.ReasonHostNotInNamespace, upstream: true,
			message: `host "api.other.svc" names namespace "other", but a tenant can only expose Services of its own namespace "{ns}"`,
			break_: func(ns string, t *v1alpha1.GatewayTenant) {
				t.Spec.Upstreams[0].Host = "api.other.svc"
				giveSelector(ns)
			},
			fix: func(ns string, t *v1alpha1.GatewayTenant) {
				update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[0].Host = "api." + ns + ".svc" })
			},
		}),
		Entry("Service missing", validationCase{
			reason: v1alpha1.ReasonServiceNotFound, upstream: true,
			message: `Service "missing" not found in namespace "{ns}"`,
			break_: func(ns string, t *v1alpha1.GatewayTenant) {
				t.Spec.Upstreams[0].Host = "missing." + ns + ".svc"
				giveSelector(ns)
			},
			fix: func(ns string, _ *v1alpha1.GatewayTenant) { newService(ns, "missing") },
		}),
		Entry("port not on the Service", validationCase{
			reason: v1alpha1.ReasonPortNotFound, upstream: true,
			message: `port 8080 is not a port of Service "api"; its ports are [8443]`,
			break_: func(ns string, t *v1alpha1.GatewayTenant) {
				t.Spec.Upstreams[0].Port = 8080
				giveSelector(ns)
			},
			fix: func(ns string, t *v1alpha1.GatewayTenant) {
				update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[0].Port = 8443 })
			},
		}),
		Entry("Service without selector", validationCase{
			reason: v1alpha1.ReasonServiceWithoutSelector, upstream: true,
			message: `Service "api" has no pod selector`,
			break_:  func(string, *v1alpha1.GatewayTenant) {},
			fix:     func(ns string, _ *v1alpha1.GatewayTenant) { giveSelector(ns) },
		}),
		Entry("data plane unknown", validationCase{
			reason:  v1alpha1.ReasonDataPlaneNotFound,
			message: `GatewayDataPlane "aps-bronze" not found`,
			break_: func(ns string, t *v1alpha1.GatewayTenant) {
				t.Spec.DataPlane = "aps-bronze"
				giveSelector(ns)
			},
			fix: func(ns string, t *v1alpha1.GatewayTenant) {
				update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.DataPlane = "aps-silver" })
			},
		}),
		Entry("environment unknown to the data plane", validationCase{
			reason:  v1alpha1.ReasonEnvironmentNotFound,
			message: `GatewayDataPlane "aps-silver" has no environment "dev"; it has [test, prod]`,
			break_: func(ns string, t *v1alpha1.GatewayTenant) {
				t.Spec.Environments = []v1alpha1.EnvironmentName{"dev"}
				giveSelector(ns)
			},
			fix: func(ns string, t *v1alpha1.GatewayTenant) {
				update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Environments = []v1alpha1.EnvironmentName{"test"} })
			},
		}),
	)
})

// giveSelector restores the pod selector of Service "api" in ns.
func giveSelector(ns string) {
	update(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api"}}, func(s *corev1.Service) {
		s.Spec.Selector = map[string]string{"name": "api"}
	})
}

var _ = Describe("The data-plane preset", func() {
	It("keeps the default GatewayDataPlane: created, restored after edits, recreated after deletion", func() {
		key := client.ObjectKey{Name: "aps-silver"}
		dp := &v1alpha1.GatewayDataPlane{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, dp)).To(Succeed())
			g.Expect(dp.Status.Source).To(Equal("preset:silver"))
		}).Should(Succeed())
		want, err := dataplane.Preset("silver")
		Expect(err).NotTo(HaveOccurred())
		Expect(dp.Spec).To(Equal(want.Spec))

		update(dp, func(dp *v1alpha1.GatewayDataPlane) { dp.Spec.Environments = dp.Spec.Environments[:1] })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, dp)).To(Succeed())
			g.Expect(dp.Spec).To(Equal(want.Spec))
		}).Should(Succeed())

		uid := dp.UID
		Expect(k8sClient.Delete(ctx, dp)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key, dp)).To(Succeed())
			g.Expect(dp.UID).NotTo(Equal(uid))
			g.Expect(dp.Spec).To(Equal(want.Spec))
		}).Should(Succeed())
	})
})
