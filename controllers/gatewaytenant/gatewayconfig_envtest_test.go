package gatewaytenant_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
)

const gatewayID = "gw-1a2b3"

// presetDataPlane is the data plane of a preset under its usual name: Silver's as the suite's
// manager keeps it (waited for, never created here, so that it stays the manager's and the
// default), the others created once, not as the default.
func presetDataPlane(preset string) string {
	dp, err := dataplane.Preset(preset)
	Expect(err).NotTo(HaveOccurred())
	if preset == "silver" {
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(dp), dp)).To(Succeed())
			g.Expect(dp.Labels).To(HaveKeyWithValue(dataplane.LabelPreset, preset))
		}).Should(Succeed())
		return dp.Name
	}
	dp.Spec.Default, dp.Labels = false, nil
	Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, dp))).To(Succeed())
	return dp.Name
}

// gatewayServices is the tenant's status.gatewayConfig, read as `gwa apply -i` reads it, and
// the status it was computed with.
func gatewayServices(g Gomega, t *v1alpha1.GatewayTenant) []gatewaytenant.GatewayService {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
	g.Expect(t.Status.ObservedGeneration).To(Equal(t.Generation))
	svcs, err := gatewaytenant.ReadGatewayConfig(t.Status.GatewayConfig)
	g.Expect(err).NotTo(HaveOccurred(), t.Status.GatewayConfig)
	return svcs
}

// gatewayService is the document of one upstream: host, port and protocol as the gateway
// must use them.
func gatewayService(name, host string, port int32, tags []string) gatewaytenant.GatewayService {
	return gatewaytenant.GatewayService{Kind: "GatewayService", Name: name, Tags: tags, Host: host, Port: port, Protocol: "http"}
}

// proxyServicePort is the port of the tenant's proxy Service for an upstream.
func proxyServicePort(g Gomega, ns, upstream string) int32 {
	svc := &corev1.Service{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "my-api-proxy"}, svc)).To(Succeed())
	for _, p := range svc.Spec.Ports {
		if p.Name == upstream {
			return p.Port
		}
	}
	g.Expect(svc.Spec.Ports).To(ContainElement(HaveField("Name", upstream)))
	return 0
}

// matchesStatus checks that the documents name exactly the upstreams that have a gateway
// address in status.upstreams, at that address.
func matchesStatus(g Gomega, t *v1alpha1.GatewayTenant, svcs []gatewaytenant.GatewayService) {
	var addressed []gatewaytenant.GatewayService
	for _, u := range t.Status.Upstreams {
		if u.GatewayHost != "" {
			addressed = append(addressed, gatewaytenant.GatewayService{Name: u.Name, Host: u.GatewayHost, Port: u.GatewayPort})
		}
	}
	var named []gatewaytenant.GatewayService
	for _, s := range svcs {
		named = append(named, gatewaytenant.GatewayService{Name: s.Name, Host: s.Host, Port: s.Port})
	}
	g.Expect(named).To(Equal(addressed))
}

var _ = Describe("The gateway's service definition in status.gatewayConfig", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	DescribeTable("names what the gateway must call, per preset, and follows the upstreams",
		func(preset string, class v1alpha1.DataClassName, tags []string) {
			plane := presetDataPlane(preset)
			plain := newService(ns, "plain-api", func(s *corev1.Service) {
				s.Spec.Ports[0].Port, s.Spec.Ports[0].TargetPort = 8080, intstr.FromInt32(8080)
			})
			newService(ns, "secure-api", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9443) })
			certificates(ns)
			t := newTenant(ns, []v1alpha1.Upstream{
				{Name: "plain-api", Host: "plain-api." + ns + ".svc", Port: 8080},
				tlsUpstream(ns, "secure-api"),
			}, func(t *v1alpha1.GatewayTenant) {
				t.Spec.DataPlane, t.Spec.GatewayID, t.Spec.DataClass = plane, gatewayID, class
			})
			proxyHost := "my-api-proxy." + ns + ".svc"

			By("the plain upstream at its Service, the TLS upstream at the proxy's Service, both over HTTP")
			Eventually(func(g Gomega) {
				svcs := gatewayServices(g, t)
				g.Expect(svcs).To(Equal([]gatewaytenant.GatewayService{
					gatewayService("plain-api", "plain-api."+ns+".svc", 8080, tags),
					gatewayService("secure-api", proxyHost, proxyServicePort(g, ns, "secure-api"), tags),
				}))
				matchesStatus(g, t, svcs)
			}).Should(Succeed())
			Expect(t.Status.GatewayConfig).To(HavePrefix("kind: GatewayService\nname: plain-api\n"))

			By("following the plain upstream to its Service's new port")
			update(plain, func(s *corev1.Service) { s.Spec.Ports[0].Port = 9080 })
			update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[0].Port = 9080 })
			Eventually(func(g Gomega) {
				g.Expect(gatewayServices(g, t)).To(ContainElement(gatewayService("plain-api", "plain-api."+ns+".svc", 9080, tags)))
			}).Should(Succeed())

			By("following the TLS upstream to another Service port, through the proxy's Service")
			update(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "secure-api"}}, func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "alt", Port: 9443, TargetPort: intstr.FromInt32(9443)})
			})
			update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[1].Port = 9443 })
			Eventually(func(g Gomega) {
				port := proxyServicePort(g, ns, "secure-api")
				g.Expect(port).To(Equal(int32(9443)))
				g.Expect(gatewayServices(g, t)).To(ContainElement(gatewayService("secure-api", proxyHost, port, tags)))
			}).Should(Succeed())

			By("keeping an upstream that turns invalid at its last good values, as status.upstreams does")
			update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[0].Port = 1234 })
			Eventually(func(g Gomega) {
				us, c := upstreamStatus(g, t, "plain-api")
				g.Expect(c.Reason).To(Equal(v1alpha1.ReasonPortNotFound))
				g.Expect(us.GatewayHost).To(Equal("plain-api." + ns + ".svc"))
				svcs := gatewayServices(g, t)
				g.Expect(svcs).To(ContainElement(gatewayService("plain-api", "plain-api."+ns+".svc", 9080, tags)))
				matchesStatus(g, t, svcs)
			}).Should(Succeed())
		},
		Entry("Silver", "silver", v1alpha1.DataClassName(""), []string{"ns." + gatewayID}),
		Entry("Gold", "gold", v1alpha1.DataClassName(""), []string{"ns." + gatewayID}),
		Entry("Gold DR", "golddr", v1alpha1.DataClassName(""), []string{"ns." + gatewayID}),
		Entry("Emerald, data class medium", "emerald", v1alpha1.DataClassName("medium"),
			[]string{"ns." + gatewayID, "aps.route.dataclass.medium"}),
	)

	It("labels the proxy's pods with the tenant's data class on Emerald, and follows a change of class", func() {
		plane := presetDataPlane("emerald")
		newService(ns, "secure-api")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure-api")}, func(t *v1alpha1.GatewayTenant) {
			t.Spec.DataPlane, t.Spec.DataClass = plane, "high"
		})
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api-proxy"}}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(dep), dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue("DataClass", "High"))
		}).Should(Succeed())
		Expect(dep.Spec.Selector.MatchLabels).NotTo(HaveKey("DataClass"))

		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.DataClass = "public" })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(dep), dep)).To(Succeed())
			g.Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue("DataClass", "Low"))
			g.Expect(gatewayServices(g, t)).To(HaveExactElements(HaveField("Tags", []string{"aps.route.dataclass.public"})))
		}).Should(Succeed())
	})

	It("refuses a missing data class where the data plane requires one, and one where it has none, naming spec.dataClass", func() {
		emerald := presetDataPlane("emerald")
		newService(ns, "plain-api")
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "plain-api")}, func(t *v1alpha1.GatewayTenant) {
			t.Spec.DataPlane, t.Spec.GatewayID = emerald, gatewayID
		})
		Eventually(func(g Gomega) {
			c := condition(g, t, v1alpha1.ConditionAccepted)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonDataClassRequired))
			g.Expect(c.Message).To(ContainSubstring("set spec.dataClass to one of [public, medium, high]"))
			g.Expect(condition(g, t, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonDataClassRequired))
		}).Should(Succeed())
		Expect(t.Status.GatewayConfig).To(BeEmpty(), "no document the gateway would refuse")
		Expect(policiesOfTenant(ns)).To(BeEmpty(), "nothing is opened for a refused tenant")

		By("the data class named: accepted, opened, and published with its tag")
		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.DataClass = "medium" })
		expectReady(t)
		Eventually(func(g Gomega) {
			g.Expect(gatewayServices(g, t)).To(HaveExactElements(HaveField("Tags", []string{"ns." + gatewayID, "aps.route.dataclass.medium"})))
		}).Should(Succeed())

		By("moved to Silver, which has no data classes, the class is refused and what was opened stays")
		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.DataPlane = dataplane.ObjectName("silver") })
		Eventually(func(g Gomega) {
			c := condition(g, t, v1alpha1.ConditionAccepted)
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonDataClassNotAllowed))
			g.Expect(c.Message).To(ContainSubstring(`spec.dataClass: GatewayDataPlane "aps-silver" has no data classes`))
		}).Should(Succeed())
		Expect(policiesOfTenant(ns)).To(HaveLen(1))
		Expect(t.Status.GatewayConfig).To(BeEmpty())
	})
})

// policiesOfTenant lists the NetworkPolicies of tenant my-api in ns.
func policiesOfTenant(ns string) []networkingv1.NetworkPolicy {
	list := &networkingv1.NetworkPolicyList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelTenant: "my-api"})).To(Succeed())
	return list.Items
}
