package gatewaytenant_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
)

// gatewayAPIPlane creates a data plane whose gateway (namespaces labelled gateway=envoy)
// verifies TLS upstreams through BackendTLSPolicies, after tweaks.
func gatewayAPIPlane(tweaks ...func(*v1alpha1.GatewayDataPlaneSpec)) *v1alpha1.GatewayDataPlane {
	dp := &v1alpha1.GatewayDataPlane{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "gwapi-"},
		Spec: v1alpha1.GatewayDataPlaneSpec{
			Environments: []v1alpha1.DataPlaneEnvironment{{Name: "prod", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"gateway": "envoy"}}}},
			UpstreamTLS:  &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy},
		},
	}
	for _, tw := range tweaks {
		tw(&dp.Spec)
	}
	Expect(k8sClient.Create(ctx, dp)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, dp))).To(Succeed()) })
	return dp
}

// gatewayVerified is upstream(ns, name) verified against the CA in ConfigMap "upstream-ca":
// what a BackendTLSPolicy expresses.
func gatewayVerified(ns, name string) v1alpha1.Upstream {
	u := upstream(ns, name)
	u.TLS = &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{
		CACertificateRefs: []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: "upstream-ca"}},
	}}
	return u
}

// onPlane makes the tenant name the data plane, for its prod environment.
func onPlane(dp *v1alpha1.GatewayDataPlane) func(*v1alpha1.GatewayTenant) {
	return func(t *v1alpha1.GatewayTenant) {
		t.Spec.DataPlane, t.Spec.Environments = dp.Name, []v1alpha1.EnvironmentName{"prod"}
	}
}

// report writes status.ancestors of a BackendTLSPolicy as an implementation does: for Gateway
// gw/eg by controller example.com/gateway, the conditions (type, status, reason) on the
// policy's current generation.
func report(p *gwapiv1.BackendTLSPolicy, conds ...[3]string) {
	var cs []metav1.Condition
	for _, c := range conds {
		cs = append(cs, metav1.Condition{Type: c[0], Status: metav1.ConditionStatus(c[1]), Reason: c[2], Message: "the implementation says " + c[2]})
	}
	Expect(controlplane.ReportOnBackendTLSPolicy(ctx, k8sClient, client.ObjectKeyFromObject(p), types.NamespacedName{Namespace: "gw", Name: "eg"},
		"example.com/gateway", cs...)).To(Succeed())
}

// upstreamCondition is condition typ of the tenant's upstream name, re-read.
func upstreamCondition(g Gomega, t *v1alpha1.GatewayTenant, name, typ string) *metav1.Condition {
	us, _ := upstreamStatus(g, t, name)
	return meta.FindStatusCondition(us.Conditions, typ)
}

// expectNoProxy says that nothing of a proxy exists for tenant my-api in ns.
func expectNoProxy(g Gomega, ns string) {
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{}, &corev1.ServiceAccount{}, &networkingv1.NetworkPolicy{}} {
		obj.SetNamespace(ns)
		obj.SetName("my-api-proxy")
		g.Expect(gone(obj)()).To(BeTrue(), "%T my-api-proxy exists", obj)
	}
}

var _ = Describe("A TLS upstream on a data plane in BackendTLSPolicy mode", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("gets a BackendTLSPolicy the CRD accepts, no proxy, a NetworkPolicy straight to its pods, and the implementation's word in status", func() {
		dp := gatewayAPIPlane()
		newService(ns, "secure", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9443) })
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{gatewayVerified(ns, "secure")}, onPlane(dp))

		By("writing the policy: the Service port by name, the tenant's validation, the host as hostname")
		p := get(ns, "my-api.secure", &gwapiv1.BackendTLSPolicy{})
		Expect(p.Spec.TargetRefs).To(Equal([]gwapiv1.LocalPolicyTargetReferenceWithSectionName{{
			LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Group: "", Kind: "Service", Name: "secure"},
			SectionName:                ptr.To(gwapiv1.SectionName("https")),
		}}))
		Expect(p.Spec.Validation.CACertificateRefs).To(Equal([]gwapiv1.LocalObjectReference{{Group: "", Kind: "ConfigMap", Name: "upstream-ca"}}))
		Expect(p.Spec.Validation.Hostname).To(Equal(gwapiv1.PreciseHostname("secure." + ns + ".svc")))
		Expect(p.Spec.Options).To(BeEmpty())
		Expect(metav1.IsControlledBy(p, t)).To(BeTrue())
		Expect(p.Labels).To(HaveKeyWithValue(v1alpha1.LabelTenant, "my-api"))
		Expect(p.Labels).To(HaveKeyWithValue(v1alpha1.LabelManagedBy, v1alpha1.ManagedByValue))

		By("opening the gateway's namespaces straight to the pods on the target port, and nothing of a proxy")
		np := networkPolicy(ns, "secure")
		Expect(np.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{"name": "secure"}))
		Expect(np.Spec.Ingress).To(Equal([]networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"gateway": "envoy"}}}},
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(intstr.FromInt32(9443))},
		}}))
		Consistently(func(g Gomega) {
			expectNoProxy(g, ns)
			g.Expect(policyNames(g, ns)).To(ConsistOf("my-api.secure-from-gateway"))
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("reporting the upstream's Service as what the gateway calls, and Unknown before any implementation reports")
		Eventually(func(g Gomega) {
			us, ready := upstreamStatus(g, t, "secure")
			g.Expect(us.GatewayHost).To(Equal("secure." + ns + ".svc"))
			g.Expect(us.GatewayPort).To(Equal(int32(8443)))
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			accepted := upstreamCondition(g, t, "secure", v1alpha1.ConditionBackendTLSPolicyAccepted)
			g.Expect(accepted).NotTo(BeNil())
			g.Expect(accepted.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(accepted.Reason).To(Equal(v1alpha1.ReasonAwaitingImplementation))
			g.Expect(upstreamCondition(g, t, "secure", v1alpha1.ConditionVerified)).To(BeNil())
			g.Expect(condition(g, t, v1alpha1.ConditionProxyReady).Reason).To(Equal(v1alpha1.ReasonNotRequired))
			g.Expect(condition(g, t, v1alpha1.ConditionBackendTLSPolicyReady).Status).To(Equal(metav1.ConditionTrue))
			ready = condition(g, t, v1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(ready.Message).To(ContainSubstring(`upstream "secure" awaits the gateway's report on its BackendTLSPolicy`))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(dp), dp)).To(Succeed())
			c := meta.FindStatusCondition(dp.Status.Conditions, v1alpha1.ConditionUpstreamTLSReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonGatewayVerifies))
		}).Should(Succeed())

		By("making the tenant's Ready the implementation's refusal, with its reason")
		report(p, [3]string{"Accepted", "False", "NoValidCACertificate"}, [3]string{"ResolvedRefs", "False", "InvalidCACertificateRef"})
		Eventually(func(g Gomega) {
			ready := condition(g, t, v1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal("NoValidCACertificate"))
			g.Expect(ready.Message).To(ContainSubstring("Gateway gw/eg (controller example.com/gateway) refuses"))
			g.Expect(ready.Message).To(ContainSubstring("the implementation says NoValidCACertificate"))
			_, up := upstreamStatus(g, t, "secure")
			g.Expect(up.Reason).To(Equal("NoValidCACertificate"))
		}).Should(Succeed())

		By("and Ready once it accepts the policy and resolves its references")
		report(p, [3]string{"Accepted", "True", "Accepted"}, [3]string{"ResolvedRefs", "True", "ResolvedRefs"})
		Eventually(func(g Gomega) {
			g.Expect(upstreamCondition(g, t, "secure", v1alpha1.ConditionBackendTLSPolicyAccepted).Status).To(Equal(metav1.ConditionTrue))
			ready := condition(g, t, v1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(ready.Message).To(Equal("all 1 upstreams are reachable from the gateway"))
		}).Should(Succeed())

		By("deleting the tenant's policy with the tenant: it is owned")
		Expect(metav1.GetControllerOf(p).BlockOwnerDeletion).To(Equal(ptr.To(true)))
	})

	It("writes the minimum version under the implementation's option when the data plane names one", func() {
		dp := gatewayAPIPlane(func(s *v1alpha1.GatewayDataPlaneSpec) {
			s.UpstreamTLS.BackendTLSPolicy = &v1alpha1.BackendTLSPolicySettings{MinVersionOption: "kgateway.dev/min-tls-version"}
		})
		newService(ns, "secure")
		certificates(ns)
		u := gatewayVerified(ns, "secure")
		u.TLS.MinVersion = v1alpha1.TLSVersion13
		newTenant(ns, []v1alpha1.Upstream{u}, onPlane(dp))
		Eventually(func(g Gomega) {
			p := &gwapiv1.BackendTLSPolicy{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "my-api.secure"}, p)).To(Succeed())
			g.Expect(p.Spec.Options).To(Equal(map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{"kgateway.dev/min-tls-version": "1.3"}))
		}).Should(Succeed())
	})

	DescribeTable("refuses what a BackendTLSPolicy cannot express, naming the field and the mode, and writes nothing",
		func(reason, field string, tweak func(ns string, u *v1alpha1.Upstream, svc *corev1.Service)) {
			dp := gatewayAPIPlane()
			u := gatewayVerified(ns, "secure")
			newService(ns, "secure", func(s *corev1.Service) { tweak(ns, &u, s) })
			certificates(ns)
			t := newTenant(ns, []v1alpha1.Upstream{u}, onPlane(dp))
			Eventually(func(g Gomega) {
				_, c := upstreamStatus(g, t, "secure")
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(c.Reason).To(Equal(reason))
				g.Expect(c.Message).To(ContainSubstring(field))
				g.Expect(condition(g, t, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
			}).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(gone(&gwapiv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api.secure"}})()).To(BeTrue())
				g.Expect(policyNames(g, ns)).To(BeEmpty())
				expectNoProxy(g, ns)
			}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
		},
		Entry("a client certificate", v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, "tls.clientCertificateRef",
			func(_ string, u *v1alpha1.Upstream, _ *corev1.Service) {
				u.TLS.ClientCertificateRef = &v1alpha1.SecretReference{Name: "client-cert"}
			}),
		Entry("a pod certificate as the client identity", v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, "tls.podCertificate",
			func(_ string, u *v1alpha1.Upstream, _ *corev1.Service) {
				u.TLS.PodCertificate = &v1alpha1.PodCertificateIdentity{SignerName: "example.com/gateway-clients"}
			}),
		Entry("a CA from a ClusterTrustBundle by name", v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, "tls.validation.caCertificateRefs[0] ClusterTrustBundle/",
			func(ns string, u *v1alpha1.Upstream, _ *corev1.Service) {
				trustBundle(ns+"-upstreams", nil, must(pki.NewRoot("platform upstreams")))
				u.TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{bundleRef(ns + "-upstreams")}
			}),
		Entry("a CA from the ClusterTrustBundles of a signer", v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, "tls.validation.caCertificateRefs[1] ClusterTrustBundle/signerName=example.com/upstreams",
			func(ns string, u *v1alpha1.Upstream, _ *corev1.Service) {
				trustBundle("example.com:upstreams:"+ns, map[string]string{"trust": ns}, must(pki.NewRoot("platform upstreams")))
				u.TLS.Validation.CACertificateRefs = append(u.TLS.Validation.CACertificateRefs, signerRef("example.com/upstreams", map[string]string{"trust": ns}))
			}),
		Entry("a verify depth", v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, "tls.verifyDepth",
			func(_ string, u *v1alpha1.Upstream, _ *corev1.Service) { u.TLS.VerifyDepth = ptr.To[int32](1) }),
		Entry("a minimum version above the implementation's default, without an option", v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, "tls.minVersion 1.3",
			func(_ string, u *v1alpha1.Upstream, _ *corev1.Service) { u.TLS.MinVersion = v1alpha1.TLSVersion13 }),
		Entry("the operator's own well-known CA bundle", v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, "gatewaytenant.io/openshift-service-ca",
			func(_ string, u *v1alpha1.Upstream, _ *corev1.Service) {
				u.TLS.Validation = v1alpha1.UpstreamTLSValidation{WellKnownCACertificates: ptr.To(v1alpha1.WellKnownCAOpenShiftServiceCA)}
			}),
		Entry("an unnamed Service port", v1alpha1.ReasonServicePortUnnamed, "name the port",
			func(_ string, _ *v1alpha1.Upstream, s *corev1.Service) { s.Spec.Ports[0].Name = "" }),
	)

	It("carries a CA Secret into the policy as it is, reads no Secret, and leaves its check to the implementation", func() {
		dp := gatewayAPIPlane()
		newService(ns, "secure")
		u := gatewayVerified(ns, "secure")
		u.TLS.Validation.CACertificateRefs = []v1alpha1.CACertificateReference{{Kind: "Secret", Name: "upstream-ca-secret"}}
		t := newTenant(ns, []v1alpha1.Upstream{u}, onPlane(dp))

		By("writing the reference as the tenant gave it, though no such Secret exists: the operator cannot read one")
		p := get(ns, "my-api.secure", &gwapiv1.BackendTLSPolicy{})
		Expect(p.Spec.Validation.CACertificateRefs).To(Equal([]gwapiv1.LocalObjectReference{{Group: "", Kind: "Secret", Name: "upstream-ca-secret"}}))
		Eventually(func(g Gomega) {
			ready := condition(g, t, v1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), ready.Message)
			g.Expect(ready.Message).To(ContainSubstring(`upstream "secure" awaits the gateway's report on its BackendTLSPolicy`))
			g.Expect(condition(g, t, v1alpha1.ConditionResolvedRefs).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())

		By("taking the implementation's word on the Secret: its refusal is the tenant's Ready")
		report(p, [3]string{"Accepted", "False", "NoValidCACertificate"}, [3]string{"ResolvedRefs", "False", "InvalidCACertificateRef"})
		Eventually(func(g Gomega) {
			ready := condition(g, t, v1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal("NoValidCACertificate"))
		}).Should(Succeed())
		Consistently(func(g Gomega) { expectNoProxy(g, ns) }, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("reports another BackendTLSPolicy on the same Service port that takes precedence, and never touches it", func() {
		dp := gatewayAPIPlane()
		newService(ns, "secure")
		certificates(ns)
		theirs := &gwapiv1.BackendTLSPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform-secure"},
			Spec: gwapiv1.BackendTLSPolicySpec{
				TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{
					LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Kind: "Service", Name: "secure"},
					SectionName:                ptr.To(gwapiv1.SectionName("https")),
				}},
				Validation: gwapiv1.BackendTLSPolicyValidation{Hostname: "secure.example", WellKnownCACertificates: ptr.To(gwapiv1.WellKnownCACertificatesSystem)},
			},
		}
		Expect(k8sClient.Create(ctx, theirs)).To(Succeed())
		before := theirs.DeepCopy()
		t := newTenant(ns, []v1alpha1.Upstream{gatewayVerified(ns, "secure")}, onPlane(dp))
		Eventually(func(g Gomega) {
			_, c := upstreamStatus(g, t, "secure")
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonConflicted))
			g.Expect(c.Message).To(ContainSubstring(`BackendTLSPolicy "platform-secure", which the operator did not write, already targets Service "secure" port https`))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			now := &gwapiv1.BackendTLSPolicy{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(theirs), now)).To(Succeed())
			g.Expect(now.ResourceVersion).To(Equal(before.ResourceVersion))
			g.Expect(gone(&gwapiv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api.secure"}})()).To(BeTrue())
			g.Expect(policyNames(g, ns)).To(BeEmpty())
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

		By("taking the port once that policy goes; one created later does not take it away")
		Expect(k8sClient.Delete(ctx, theirs)).To(Succeed())
		get(ns, "my-api.secure", &gwapiv1.BackendTLSPolicy{})
		Eventually(func(g Gomega) {
			_, c := upstreamStatus(g, t, "secure")
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		}).Should(Succeed())
		later := before.DeepCopy()
		later.ResourceVersion, later.Name = "", "zz-latecomer" // later, or in the same second with a name that sorts after the tenant's
		Expect(k8sClient.Create(ctx, later)).To(Succeed())
		Consistently(func(g Gomega) {
			_, c := upstreamStatus(g, t, "secure")
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("moves a tenant from the proxy to the gateway and back when the data plane's mode changes, the new path first", func() {
		dp := gatewayAPIPlane(func(s *v1alpha1.GatewayDataPlaneSpec) { s.UpstreamTLS = nil })
		newService(ns, "secure", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9443) })
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{gatewayVerified(ns, "secure")}, onPlane(dp))
		becomeAvailable(ns)
		expectReady(t)
		Expect(policyNames(Default, ns)).To(ConsistOf("my-api-proxy", "my-api.secure-from-proxy"))

		By("to BackendTLSPolicy: the policy and the direct NetworkPolicy, then no proxy")
		mode := func(m v1alpha1.UpstreamTLSMode) {
			update(dp, func(dp *v1alpha1.GatewayDataPlane) { dp.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: m} })
		}
		mode(v1alpha1.UpstreamTLSModeBackendTLSPolicy)
		Eventually(func(g Gomega) {
			g.Expect(policyNames(g, ns)).To(ConsistOf("my-api.secure-from-gateway"))
			expectNoProxy(g, ns)
			us, _ := upstreamStatus(g, t, "secure")
			g.Expect(us.GatewayHost).To(Equal("secure." + ns + ".svc"))
		}).Should(Succeed())
		get(ns, "my-api.secure", &gwapiv1.BackendTLSPolicy{})

		By("back to Proxy: the direct path stays until the proxy serves with its replicas available")
		mode(v1alpha1.UpstreamTLSModeProxy)
		Eventually(func(g Gomega) {
			g.Expect(policyNames(g, ns)).To(ConsistOf("my-api-proxy", "my-api.secure-from-proxy", "my-api.secure-from-gateway"))
			us, _ := upstreamStatus(g, t, "secure")
			g.Expect(us.GatewayHost).To(Equal("my-api-proxy." + ns + ".svc"))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(policyNames(g, ns)).To(ContainElement("my-api.secure-from-gateway"))
			g.Expect(gone(&gwapiv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api.secure"}})()).To(BeFalse())
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
		becomeAvailable(ns)
		Eventually(func(g Gomega) {
			g.Expect(policyNames(g, ns)).To(ConsistOf("my-api-proxy", "my-api.secure-from-proxy"))
			g.Expect(gone(&gwapiv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api.secure"}})()).To(BeTrue())
		}).Should(Succeed())
		expectReady(t)
	})

	It("removes the tenant's policies, NetworkPolicies first, when an older tenant owns a Service port it names", func() {
		dp := gatewayAPIPlane()
		newService(ns, "secure")
		newService(ns, "shared")
		certificates(ns)
		newTenant(ns, []v1alpha1.Upstream{upstream(ns, "shared")}, onPlane(dp), func(t *v1alpha1.GatewayTenant) { t.Name = "first" })
		second := newTenant(ns, []v1alpha1.Upstream{gatewayVerified(ns, "secure")}, onPlane(dp), func(t *v1alpha1.GatewayTenant) { t.Name = "second" })
		get(ns, "second.secure", &gwapiv1.BackendTLSPolicy{})
		update(second, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams = append(t.Spec.Upstreams, upstream(ns, "shared")) })
		Eventually(func(g Gomega) {
			g.Expect(condition(g, second, v1alpha1.ConditionAccepted).Reason).To(Equal(v1alpha1.ReasonConflicted))
			g.Expect(gone(&gwapiv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "second.secure"}})()).To(BeTrue())
			g.Expect(policyNames(g, ns)).To(ConsistOf("first.shared-from-gateway"))
			g.Expect(meta.FindStatusCondition(second.Status.Conditions, v1alpha1.ConditionBackendTLSPolicyReady)).To(BeNil())
		}).Should(Succeed())
	})

	It("keeps an upstream on the proxy while the gateway cannot verify it", func() {
		dp := gatewayAPIPlane(func(s *v1alpha1.GatewayDataPlaneSpec) { s.UpstreamTLS = nil })
		newService(ns, "secure")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")}, onPlane(dp)) // a client certificate
		becomeAvailable(ns)
		expectReady(t)
		update(dp, func(dp *v1alpha1.GatewayDataPlane) {
			dp.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy}
		})
		Eventually(func(g Gomega) {
			us, c := upstreamStatus(g, t, "secure")
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonNotExpressibleInBackendTLSPolicy))
			g.Expect(c.Message).To(ContainSubstring("It keeps its last good spec, which the gateway reaches at my-api-proxy." + ns + ".svc:8443"))
			g.Expect(us.GatewayHost).To(Equal("my-api-proxy." + ns + ".svc"))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(policyNames(g, ns)).To(ConsistOf("my-api-proxy", "my-api.secure-from-proxy"))
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "my-api-proxy"}, &appsv1.Deployment{})).To(Succeed())
		}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	})
})
