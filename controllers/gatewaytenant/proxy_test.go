package gatewaytenant_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/pki"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/proxyrun"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// tlsUpstream is upstream(ns, name) verified against the CA in ConfigMap "upstream-ca". (A
// client certificate Secret would keep the tenant from Ready until a proxy replica reported on
// it: specs that need one run replicas, see secrets_by_proxy_test.go.)
func tlsUpstream(ns, name string) v1alpha1.Upstream {
	u := upstream(ns, name)
	u.TLS = &v1alpha1.UpstreamTLS{
		Validation: v1alpha1.UpstreamTLSValidation{
			CACertificateRefs: []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: "upstream-ca"}},
		},
		VerifyDepth: ptr.To[int32](1),
		MinVersion:  v1alpha1.TLSVersion12,
	}
	return u
}

// certificates creates the CA ConfigMap tlsUpstream refers to.
func certificates(ns string) *pki.Chain {
	chain, err := pki.NewChain()
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upstream-ca"},
		Data:       map[string]string{"ca.crt": string(chain.Root.CertPEM())},
	})).To(Succeed())
	return chain
}

// clientSecret creates a kubernetes.io/tls Secret "client-cert" with a client certificate of
// ca, and returns that certificate.
func clientSecret(ns string, ca *pki.Cert) *pki.Cert {
	GinkgoHelper()
	c := must(ca.NewLeaf("gateway", pki.ClientAuth()))
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "client-cert"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": c.CertPEM(), "tls.key": c.KeyPEM()},
	})).To(Succeed())
	return c
}

func get[T client.Object](ns, name string, obj T) T {
	Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj) }).Should(Succeed())
	return obj
}

func gone(obj client.Object) func() bool {
	return func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj))
	}
}

// becomeAvailable plays the kubelet and the Deployment controller for the proxy of tenant
// my-api: envtest runs neither.
func becomeAvailable(ns string) {
	key := client.ObjectKey{Namespace: ns, Name: "my-api-proxy"}
	Eventually(func() error { return controlplane.MarkDeploymentAvailable(ctx, k8sClient, key) }).Should(Succeed())
}

var _ = Describe("GatewayTenant with TLS upstreams", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("runs a locked-down proxy for the TLS upstream, and only that", func() {
		newService(ns, "plain")
		newService(ns, "secure", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9443) })
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "plain"), tlsUpstream(ns, "secure")})

		By("reporting the proxy Service as what the gateway calls")
		Eventually(func(g Gomega) {
			us, c := upstreamStatus(g, t, "secure")
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
			g.Expect(us.GatewayHost).To(Equal("my-api-proxy." + ns + ".svc"))
			g.Expect(us.GatewayPort).To(Equal(int32(8443)))
			g.Expect(condition(g, t, v1alpha1.ConditionProxyReady).Reason).To(Equal(v1alpha1.ReasonProxyProgressing))
		}).Should(Succeed())
		becomeAvailable(ns)
		expectReady(t)

		By("rendering a configuration the real proxy accepts")
		cm := get(ns, "my-api-proxy", &corev1.ConfigMap{})
		cfg, err := contract.ParseConfig([]byte(cm.Data["proxy.yaml"]))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Upstreams).To(HaveLen(1))
		up := cfg.Upstreams[0]
		Expect(up.Name).To(Equal("secure"))
		Expect(up.Listen).To(Equal(":8001"))
		Expect(up.Address).To(Equal("secure." + ns + ".svc:8443"))
		Expect(up.TLS.ServerName).To(Equal("secure." + ns + ".svc"))
		Expect(*up.TLS.VerifyDepth).To(Equal(1))
		dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
		expectProxyCheckPasses(ns, dep)

		By("exposing the listener on the upstream's port")
		svc := get(ns, "my-api-proxy", &corev1.Service{})
		Expect(svc.Spec.Ports).To(HaveLen(1))
		Expect(svc.Spec.Ports[0].Port).To(Equal(int32(8443)))
		Expect(svc.Spec.Ports[0].TargetPort).To(Equal(intstr.FromInt32(8001)))
		Expect(svc.Spec.Selector).To(Equal(dep.Spec.Selector.MatchLabels))

		By("running without an API token, spread, with a disruption budget")
		Expect(*get(ns, "my-api-proxy", &corev1.ServiceAccount{}).AutomountServiceAccountToken).To(BeFalse())
		Expect(*dep.Spec.Replicas).To(Equal(int32(2)))
		Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal(proxyImage))
		Expect(dep.Spec.Template.Spec.TopologySpreadConstraints).To(HaveLen(1))
		Expect(get(ns, "my-api-proxy", &policyv1.PodDisruptionBudget{}).Spec.MinAvailable).To(Equal(ptr.To(intstr.FromInt32(1))))

		By("opening gateway -> proxy listeners and proxy -> upstream target port, and the plain upstream directly")
		gw := get(ns, "my-api-proxy", &networkingv1.NetworkPolicy{})
		Expect(gw.Spec.PodSelector.MatchLabels).To(Equal(dep.Spec.Selector.MatchLabels))
		Expect(gw.Spec.Ingress).To(HaveLen(3), "two gateway environments and the operator's namespace")
		Expect(gw.Spec.Ingress[0].Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcpPort(intstr.FromInt32(8001))}))
		Expect(gw.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels).To(Equal(map[string]string{"environment": "test", "name": "264e6f"}))
		toUpstream := get(ns, "my-api.secure-from-proxy", &networkingv1.NetworkPolicy{})
		Expect(toUpstream.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{"name": "secure"}))
		Expect(toUpstream.Spec.Ingress).To(Equal([]networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: dep.Spec.Selector.MatchLabels}}},
			Ports: []networkingv1.NetworkPolicyPort{tcpPort(intstr.FromInt32(9443))},
		}}))
		Expect(networkPolicy(ns, "plain").Spec.PodSelector.MatchLabels).To(Equal(map[string]string{"name": "plain"}))
		Expect(gone(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api.secure-from-gateway"}})()).To(BeTrue(),
			"the gateway must not reach a TLS upstream's pods directly")

		By("rolling the proxy only when its configuration changes")
		template := dep.Spec.Template.DeepCopy()
		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Environments = []v1alpha1.EnvironmentName{"prod"} })
		Eventually(func() int {
			return len(get(ns, "my-api-proxy", &networkingv1.NetworkPolicy{}).Spec.Ingress)
		}).Should(Equal(2), "one gateway environment and the operator's namespace")
		Expect(get(ns, "my-api-proxy", &appsv1.Deployment{}).Spec.Template).To(Equal(*template))
		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[1].TLS.VerifyDepth = ptr.To[int32](0) })
		Eventually(func() string {
			return get(ns, "my-api-proxy", &appsv1.Deployment{}).Spec.Template.Annotations["gatewaytenant.io/config-hash"]
		}).ShouldNot(Equal(template.Annotations["gatewaytenant.io/config-hash"]))
		Eventually(func() int {
			cfg, err := contract.ParseConfig([]byte(get(ns, "my-api-proxy", &corev1.ConfigMap{}).Data["proxy.yaml"]))
			Expect(err).NotTo(HaveOccurred())
			return *cfg.Upstreams[0].TLS.VerifyDepth
		}).Should(BeZero(), "the ConfigMap the pod mounts carries the new configuration")

		By("removing every proxy object with the last TLS upstream")
		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams = t.Spec.Upstreams[:1] })
		meta := metav1.ObjectMeta{Namespace: ns, Name: "my-api-proxy"}
		for _, obj := range []client.Object{&appsv1.Deployment{ObjectMeta: meta}, &corev1.Service{ObjectMeta: meta}, &corev1.ConfigMap{ObjectMeta: meta},
			&corev1.ServiceAccount{ObjectMeta: meta}, &policyv1.PodDisruptionBudget{ObjectMeta: meta},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api-proxy"}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api.secure-from-proxy"}}} {
			Eventually(gone(obj)).Should(BeTrue(), "%T %s", obj, obj.GetName())
		}
		expectReady(t)
		Expect(condition(Default, t, v1alpha1.ConditionProxyReady).Reason).To(Equal(v1alpha1.ReasonNotRequired))
	})

	It("stays Ready through a rolling update while replicas serve, and says the proxy is progressing", func() {
		newService(ns, "secure")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")})
		becomeAvailable(ns)
		expectReady(t)
		key := client.ObjectKey{Namespace: ns, Name: "my-api-proxy"}
		rolling := func(st appsv1.DeploymentStatus) {
			Eventually(func() error {
				dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
				st.ObservedGeneration = dep.Generation
				dep.Status = st
				return k8sClient.Status().Update(ctx, dep)
			}).Should(Succeed())
		}
		progressing := func(g Gomega) metav1.Condition {
			c := condition(g, t, v1alpha1.ConditionProxyReady)
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonProxyProgressing))
			g.Expect(c.Message).NotTo(MatchRegexp(`(\d+) of (\d+) replicas updated and available`))
			ready := condition(g, t, v1alpha1.ConditionReady)
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "old replicas still serve: %s", ready.Message)
			return c
		}

		By("changing the configuration: a new revision the Deployment controller has not seen yet")
		update(t, func(t *v1alpha1.GatewayTenant) { t.Spec.Upstreams[0].TLS.VerifyDepth = ptr.To[int32](0) })
		Eventually(func(g Gomega) {
			dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
			g.Expect(dep.Status.ObservedGeneration).To(BeNumerically("<", dep.Generation))
			g.Expect(progressing(g).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())

		By("rolling: one new replica, two available")
		rolling(appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2})
		Eventually(func(g Gomega) {
			c := progressing(g)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Message).To(ContainSubstring("1 of 2 replicas updated"))
		}).Should(Succeed())

		By("no replica available: the gateway's traffic does not get through")
		rolling(appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2})
		Eventually(func(g Gomega) {
			c := condition(g, t, v1alpha1.ConditionProxyReady)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonProxyProgressing))
			g.Expect(condition(g, t, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonProxyProgressing))
		}).Should(Succeed())

		By("done")
		Eventually(func() error { return controlplane.MarkDeploymentAvailable(ctx, k8sClient, key) }).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(condition(g, t, v1alpha1.ConditionProxyReady).Reason).To(Equal(v1alpha1.ReasonReady))
		}).Should(Succeed())
		expectReady(t)
	})

	It("records what it created, in one Normal event", func() {
		newService(ns, "plain")
		newService(ns, "secure")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{upstream(ns, "plain"), tlsUpstream(ns, "secure")})
		Eventually(func(g Gomega) {
			notes := tenantEventNotes(ns, v1alpha1.EventReasonCreated)
			g.Expect(notes).To(HaveLen(1))
			for _, child := range []string{"NetworkPolicy my-api.plain-from-gateway", "NetworkPolicy my-api-proxy", "Deployment my-api-proxy",
				"ConfigMap my-api-proxy", "Service my-api-proxy"} {
				g.Expect(notes[0]).To(ContainSubstring(child))
			}
		}).Should(Succeed())
		becomeAvailable(ns)
		expectReady(t)
	})

	It("reverts hand edits of the proxy's Deployment, Service and disruption budget, and then writes nothing", func() {
		newService(ns, "secure")
		certificates(ns)
		t := newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")})
		becomeAvailable(ns)
		expectReady(t)
		want := get(ns, "my-api-proxy", &appsv1.Deployment{}).Spec.DeepCopy()
		wantPorts := get(ns, "my-api-proxy", &corev1.Service{}).Spec.Ports

		By("editing the image and replicas as kubectl edit would")
		update(get(ns, "my-api-proxy", &appsv1.Deployment{}), func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](5)
			d.Spec.Template.Spec.Containers[0].Image = "registry.example/someone-else:latest"
		})
		update(get(ns, "my-api-proxy", &corev1.Service{}), func(s *corev1.Service) { s.Spec.Ports[0].Port = 1234 })
		update(get(ns, "my-api-proxy", &policyv1.PodDisruptionBudget{}), func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable = ptr.To(intstr.FromInt32(0))
		})
		Eventually(func(g Gomega) {
			dep := &appsv1.Deployment{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "my-api-proxy"}, dep)).To(Succeed())
			g.Expect(dep.Spec.Replicas).To(Equal(want.Replicas))
			g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal(proxyImage))
			svc := &corev1.Service{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "my-api-proxy"}, svc)).To(Succeed())
			g.Expect(svc.Spec.Ports).To(Equal(wantPorts))
			pdb := &policyv1.PodDisruptionBudget{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "my-api-proxy"}, pdb)).To(Succeed())
			g.Expect(pdb.Spec.MinAvailable).To(Equal(ptr.To(intstr.FromInt32(1))))
		}).Should(Succeed())

		By("leaving a restart annotation from kubectl rollout restart alone")
		update(get(ns, "my-api-proxy", &appsv1.Deployment{}), func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] = "2026-11-22T12:00:00Z"
		})
		restarted := get(ns, "my-api-proxy", &appsv1.Deployment{}).Generation
		becomeAvailable(ns)
		expectReady(t)
		Consistently(func() int64 { return get(ns, "my-api-proxy", &appsv1.Deployment{}).Generation }, 3*time.Second, 200*time.Millisecond).
			Should(Equal(restarted), "the operator must not rewrite a pod template that has all it asks for")
		Expect(get(ns, "my-api-proxy", &appsv1.Deployment{}).Spec.Template.Annotations).To(HaveKey("kubectl.kubernetes.io/restartedAt"))
	})

	It("renders a proxy pod that restricted Pod Security admits as it stands", func() {
		newService(ns, "secure")
		certificates(ns)
		newTenant(ns, []v1alpha1.Upstream{tlsUpstream(ns, "secure")})
		dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
		expectRestrictedAdmits(dep)

		sc := dep.Spec.Template.Spec.SecurityContext
		Expect(sc.RunAsUser).To(BeNil(), "no fixed UID: OpenShift's restricted-v2 assigns one")
		Expect(sc.FSGroup).To(BeNil())
		Expect(*dep.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	})
})

// expectRestrictedAdmits creates the pod of dep, server-side dry run, in a namespace that
// enforces the restricted Pod Security profile: it must be admitted as it stands. The check
// is real: the same pod allowed to escalate privileges is refused.
func expectRestrictedAdmits(dep *appsv1.Deployment) {
	GinkgoHelper()
	restricted := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}
	Expect(k8sClient.Create(ctx, restricted)).To(Succeed())
	pod := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: restricted.Name, Name: "proxy"}, Spec: *dep.Spec.Template.Spec.DeepCopy()}
	}
	Expect(k8sClient.Create(ctx, pod(), client.DryRunAll)).To(Succeed())
	escalating := pod()
	escalating.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	err := k8sClient.Create(ctx, escalating, client.DryRunAll)
	Expect(err).To(HaveOccurred())
	Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted:latest"`))
}

// expectProxyCheckPasses mounts the proxy pod's volumes from the API server, as the kubelet
// would, and runs the real `proxy --check` on the configuration its container names.
func expectProxyCheckPasses(ns string, dep *appsv1.Deployment) {
	GinkgoHelper()
	pod, err := proxyrun.MountPod(ctx, k8sClient, ns, &dep.Spec.Template.Spec, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	config, _, err := pod.Localise("127.0.0.1:8443")
	Expect(err).NotTo(HaveOccurred())
	bin, err := proxyrun.Build(ctx, GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	out, err := proxyrun.Check(ctx, bin, config)
	Expect(err).NotTo(HaveOccurred(), out)
}

var _ = Describe("The manager and Secrets", func() {
	It("reads, lists and watches none, not even those its tenants reference", func() {
		ns := newNamespace()
		newService(ns, "secure")
		chain := certificates(ns)
		clientSecret(ns, chain.Root)
		u := tlsUpstream(ns, "secure")
		u.TLS.ClientCertificateRef = &v1alpha1.SecretReference{Name: "client-cert"}
		u.TLS.Validation.CACertificateRefs = append(u.TLS.Validation.CACertificateRefs, v1alpha1.CACertificateReference{Kind: "Secret", Name: "more-ca"})
		t := newTenant(ns, []v1alpha1.Upstream{u})
		becomeAvailable(ns)
		Eventually(func(g Gomega) {
			c := condition(g, t, v1alpha1.ConditionReady)
			g.Expect(c.Status).To(Equal(metav1.ConditionUnknown), c.Message)
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonAwaitingProxyReport))
			g.Expect(c.Message).To(ContainSubstring(`only the proxy replicas can check caCertificateRefs[1]: Secret "more-ca", clientCertificateRef: Secret "client-cert"`))
		}).Should(Succeed())
		dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					Expect(src.Secret.Optional).To(Equal(ptr.To(true)), "Secret %s: a missing one must not keep the pod from starting", src.Secret.Name)
				}
			}
		}
		Expect(recordedSecretRequests()).To(BeEmpty(), "the manager asked the API server for Secrets")
	})
})

var _ = Describe("Well-known trust bundles", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	wellKnown := func(wk gwapiv1.WellKnownCACertificatesType) v1alpha1.Upstream {
		u := tlsUpstream(ns, "secure")
		u.TLS.Validation.CACertificateRefs = nil
		u.TLS.Validation.WellKnownCACertificates = ptr.To(wk)
		u.TLS.ClientCertificateRef = nil
		return u
	}

	It("trusts the OpenShift service CA once the namespace has it, and says so until then", func() {
		newService(ns, "secure")
		t := newTenant(ns, []v1alpha1.Upstream{wellKnown(v1alpha1.WellKnownCAOpenShiftServiceCA)})
		Eventually(func(g Gomega) {
			_, c := upstreamStatus(g, t, "secure")
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonServiceCAUnavailable))
			g.Expect(c.Message).To(ContainSubstring(`no ConfigMap "openshift-service-ca.crt" in namespace`))
		}).Should(Succeed())

		// What the service CA operator injects into every namespace on OpenShift.
		serviceCA, err := pki.NewRoot("openshift-service-serving-signer")
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "openshift-service-ca.crt"},
			Data:       map[string]string{"service-ca.crt": string(serviceCA.CertPEM())},
		})).To(Succeed())
		becomeAvailable(ns)
		expectReady(t)

		cm := get(ns, "my-api-proxy", &corev1.ConfigMap{})
		cfg, err := contract.ParseConfig([]byte(cm.Data["proxy.yaml"]))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Upstreams[0].TLS.CAFiles).To(Equal([]string{"/etc/gatewaytenant/upstreams/secure/service-ca/service-ca.crt"}))
		Expect(cfg.Upstreams[0].TLS.SystemRoots).To(BeFalse())
		dep := get(ns, "my-api-proxy", &appsv1.Deployment{})
		expectProxyCheckPasses(ns, dep)
	})

	It("uses the system pool for System, and refuses bundles it does not know", func() {
		newService(ns, "secure")
		t := newTenant(ns, []v1alpha1.Upstream{wellKnown(gwapiv1.WellKnownCACertificatesSystem)})
		becomeAvailable(ns)
		expectReady(t)
		cfg, err := contract.ParseConfig([]byte(get(ns, "my-api-proxy", &corev1.ConfigMap{}).Data["proxy.yaml"]))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Upstreams[0].TLS.SystemRoots).To(BeTrue())
		Expect(cfg.Upstreams[0].TLS.CAFiles).To(BeEmpty())

		update(t, func(t *v1alpha1.GatewayTenant) {
			t.Spec.Upstreams[0].TLS.Validation.WellKnownCACertificates = ptr.To(gwapiv1.WellKnownCACertificatesType("example.com/corporate"))
		})
		Eventually(func(g Gomega) {
			_, c := upstreamStatus(g, t, "secure")
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonUnsupportedWellKnownCA))
		}).Should(Succeed())
	})
})
