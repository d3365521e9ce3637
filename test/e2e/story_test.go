package e2e

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/demo"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
	"github.com/gatewaytenant/gatewaytenant-operator/proxy/contract"
)

// stepTimeout bounds one step of the story: generous, for a loaded machine.
const stepTimeout = 5 * time.Minute

var _ = Describe("The story of make demo", Ordered, func() {
	It("starts from the silver data plane the manager keeps", func(ctx SpecContext) {
		dp, err := story.Setup(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(dp.Name).To(Equal("aps-silver"))
		Expect(dp.Spec.Default).To(BeTrue())
	}, SpecTimeout(stepTimeout))

	It("opens a plain upstream to exactly the Silver policy of the gateway's tenant guide, narrowed to the Service's port", func(ctx SpecContext) {
		res, err := story.PlainUpstream(ctx)
		Expect(err).NotTo(HaveOccurred())

		np := &networkingv1.NetworkPolicy{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(res.NetworkPolicy), np)).To(Succeed())
		Expect(np.Spec).To(Equal(tenantGuideSilverPolicy(demo.UpstreamPort)))
		tenant := getTenant(ctx, demo.PlainTenant)
		Expect(metav1.IsControlledBy(np, tenant)).To(BeTrue(), "the NetworkPolicy is controlled by the tenant")
		Expect(np.Labels).To(HaveKeyWithValue(v1alpha1.LabelTenant, demo.PlainTenant))

		expectCondition(tenant, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
		expectCondition(tenant, v1alpha1.ConditionNetworkPolicyReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
		Expect(tenant.Status.Upstreams).To(HaveLen(1))
		Expect(tenant.Status.Upstreams[0].GatewayHost).To(Equal("my-upstream-api.abc123-prod.svc"))
		Expect(tenant.Status.Upstreams[0].GatewayPort).To(Equal(int32(8443)))

		By("publishing the gateway's service definition as the platform's guide writes it, without an edit")
		Expect(res.GatewayServices).To(Equal([]gatewaytenant.GatewayService{{
			Kind: "GatewayService", Name: "my-upstream-api", Tags: []string{"ns." + demo.GatewayID},
			Host: "my-upstream-api.abc123-prod.svc", Port: 8443, Protocol: "http",
		}}))
		Expect(tenant.Status.GatewayConfig).To(Equal(
			"kind: GatewayService\nname: my-upstream-api\ntags: [ns.gw-1a2b3]\nhost: my-upstream-api.abc123-prod.svc\nport: 8443\nprotocol: http\n"))
	}, SpecTimeout(stepTimeout))

	It("explains a port that is not the Service's, and opens nothing", func(ctx SpecContext) {
		_, err := story.WrongPort(ctx)
		Expect(err).NotTo(HaveOccurred())

		tenant := getTenant(ctx, demo.WrongPortTenant)
		expectCondition(tenant, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidUpstreams)
		expectCondition(tenant, v1alpha1.ConditionResolvedRefs, metav1.ConditionFalse, v1alpha1.ReasonInvalidUpstreams)
		expectCondition(tenant, v1alpha1.ConditionNetworkPolicyReady, metav1.ConditionFalse, v1alpha1.ReasonNoValidUpstreams)
		up := expectUpstreamNotReady(tenant, v1alpha1.ReasonPortNotFound)
		Expect(up.Message).To(And(ContainSubstring("port 443"), ContainSubstring("[8443]")))
		Expect(policiesOf(ctx, demo.WrongPortTenant)).To(BeEmpty())
	}, SpecTimeout(stepTimeout))

	It("explains a host in another namespace, and opens nothing", func(ctx SpecContext) {
		_, err := story.OtherNamespace(ctx)
		Expect(err).NotTo(HaveOccurred())

		tenant := getTenant(ctx, demo.OtherNamespaceTenant)
		expectCondition(tenant, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidUpstreams)
		up := expectUpstreamNotReady(tenant, v1alpha1.ReasonHostNotInNamespace)
		Expect(up.Message).To(And(ContainSubstring(demo.OtherNamespace), ContainSubstring("my-upstream-api.abc123-prod.svc")))
		Expect(policiesOf(ctx, demo.OtherNamespaceTenant)).To(BeEmpty())
	}, SpecTimeout(stepTimeout))

	It("forwards through the rendered proxy to the TLS upstream over verified TLS", func(ctx SpecContext) {
		res, err := story.TLSUpstream(ctx)
		Expect(err).NotTo(HaveOccurred())

		By("the rendered configuration verifies what the tenant asked for")
		Expect(res.Rendered.Config.Upstreams).To(HaveLen(1))
		tls := res.Rendered.Config.Upstreams[0].TLS
		Expect(tls.ServerName).To(Equal(res.UpstreamHost))
		Expect(tls.VerifyDepth).To(Equal(ptr.To(1)))
		Expect(tls.CAFiles).To(HaveExactElements(HavePrefix("/etc/gatewaytenant/")))
		Expect(res.Check).To(ContainSubstring("configuration is valid"))

		By("the answer came from the upstream, which saw the rendered server name")
		Expect(res.Response.Status).To(Equal(200))
		Expect(res.Response.Body).To(And(
			HavePrefix("hello from "+demo.TLSUpstreamService),
			ContainSubstring(`SNI "`+res.UpstreamHost+`"`),
			ContainSubstring(`X-Request-Id "demo-verified"`),
		))
		Expect(res.UpstreamRequests).To(Equal(int64(1)))

		By("the tenant sends the gateway to the proxy's Service")
		tenant := getTenant(ctx, demo.TLSTenant)
		expectCondition(tenant, v1alpha1.ConditionProxyReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
		expectCondition(tenant, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
		expectVerified(tenant, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		svc := &corev1.Service{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(res.Rendered.Service), svc)).To(Succeed())
		Expect(metav1.IsControlledBy(svc, tenant)).To(BeTrue())
		Expect(tenant.Status.Upstreams).To(HaveLen(1))
		Expect(tenant.Status.Upstreams[0].GatewayHost).To(Equal(svc.Name + "." + demo.Namespace + ".svc"))
		Expect(svc.Spec.Ports).To(ContainElement(HaveField("Port", tenant.Status.Upstreams[0].GatewayPort)))

		By("publishing the proxy's Service, over plain HTTP, as the gateway's service definition")
		Expect(svc.Spec.Ports).To(HaveLen(1))
		Expect(res.GatewayServices).To(Equal([]gatewaytenant.GatewayService{{
			Kind: "GatewayService", Name: demo.TLSUpstreamService, Tags: []string{"ns." + demo.GatewayID},
			Host: svc.Name + "." + demo.Namespace + ".svc", Port: svc.Spec.Ports[0].Port, Protocol: "http",
		}}))
	}, SpecTimeout(stepTimeout))

	It("answers 502 chain_too_deep, sending nothing upstream, once verifyDepth is 0",
		failureStep((*demo.Story).ChainTooDeep, contract.ReasonChainTooDeep, v1alpha1.ReasonChainTooDeep, 0, 2), SpecTimeout(stepTimeout))

	It("answers 502 unknown_authority, sending nothing upstream, with a CA that did not issue the chain",
		failureStep((*demo.Story).WrongCA, contract.ReasonUnknownAuthority, v1alpha1.ReasonUnknownAuthority, 1, 3), SpecTimeout(stepTimeout))

	It("is verified and Ready again once the CA reference names the right root", func(ctx SpecContext) {
		res, err := story.RightCA(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(200))
		expectVerified(res.Tenant, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		expectCondition(res.Tenant, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	}, SpecTimeout(stepTimeout))

	It("reports a certificate with only a common name as such, then recovers", func(ctx SpecContext) {
		res, err := story.CommonNameOnly(ctx)
		Expect(err).NotTo(HaveOccurred())
		expectVerified(res.Failed, metav1.ConditionFalse, v1alpha1.ReasonHostnameMismatch)
		expectCondition(res.Failed, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonHostnameMismatch)
		v := meta.FindStatusCondition(res.Failed.Status.Upstreams[0].Conditions, v1alpha1.ConditionVerified)
		Expect(v.Message).To(ContainSubstring("presents CN=" + demo.TLSUpstreamService + "." + demo.Namespace +
			".svc and no subjectAltName; certificates must carry the name as a DNS SAN"))
		expectVerified(res.Tenant, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		expectCondition(res.Tenant, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	}, SpecTimeout(stepTimeout))

	It("writes a BackendTLSPolicy and a NetworkPolicy straight to the pods, and no proxy, where the gateway verifies", func(ctx SpecContext) {
		res, err := story.GatewayVerifies(ctx)
		Expect(err).NotTo(HaveOccurred())
		tenant := getTenant(ctx, demo.GatewayAPITenant)
		p := &gwapiv1.BackendTLSPolicy{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(res.BackendTLSPolicy), p)).To(Succeed())
		Expect(metav1.IsControlledBy(p, tenant)).To(BeTrue())
		Expect(p.Spec.TargetRefs).To(Equal([]gwapiv1.LocalPolicyTargetReferenceWithSectionName{{
			LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Kind: "Service", Name: demo.GatewayAPIService},
			SectionName:                ptr.To(gwapiv1.SectionName("https")),
		}}))
		Expect(p.Spec.Validation.CACertificateRefs).To(Equal([]gwapiv1.LocalObjectReference{{Kind: "ConfigMap", Name: demo.CAConfigMap}}))
		Expect(p.Spec.Validation.Hostname).To(Equal(gwapiv1.PreciseHostname(demo.GatewayAPIService + "." + demo.Namespace + ".svc")))

		np := res.NetworkPolicy
		Expect(np.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{"name": demo.GatewayAPIService}))
		Expect(np.Spec.Ingress).To(Equal([]networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": demo.GatewayNamespace}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(demo.UpstreamPort))}},
		}}))
		Expect(policiesOf(ctx, demo.GatewayAPITenant)).To(HaveLen(1))
		Expect(res.ProxyObjects).To(BeZero())

		Expect(tenant.Status.Upstreams).To(HaveLen(1))
		Expect(tenant.Status.Upstreams[0].GatewayHost).To(Equal(demo.GatewayAPIService + "." + demo.Namespace + ".svc"))
		accepted := meta.FindStatusCondition(tenant.Status.Upstreams[0].Conditions, v1alpha1.ConditionBackendTLSPolicyAccepted)
		Expect(accepted).NotTo(BeNil())
		Expect(accepted.Status).To(Equal(metav1.ConditionUnknown))
		Expect(accepted.Reason).To(Equal(v1alpha1.ReasonAwaitingImplementation))
		expectCondition(tenant, v1alpha1.ConditionProxyReady, metav1.ConditionTrue, v1alpha1.ReasonNotRequired)
		expectCondition(tenant, v1alpha1.ConditionBackendTLSPolicyReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
		expectCondition(tenant, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	}, SpecTimeout(stepTimeout))

	It("makes the implementation's refusal the tenant's Ready, with its reason, and its acceptance Ready", func(ctx SpecContext) {
		res, err := story.ImplementationReports(ctx)
		Expect(err).NotTo(HaveOccurred())
		expectCondition(res.Refused, v1alpha1.ConditionReady, metav1.ConditionFalse, "NoValidCACertificate")
		expectCondition(res.Refused, v1alpha1.ConditionResolvedRefs, metav1.ConditionTrue, v1alpha1.ReasonResolvedRefs)
		ready := meta.FindStatusCondition(res.Refused.Status.Conditions, v1alpha1.ConditionReady)
		Expect(ready.Message).To(ContainSubstring("Gateway " + demo.GatewayNamespace + "/eg (controller " + demo.ImplementationController + ") refuses"))
		expectCondition(res.Accepted, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
		accepted := meta.FindStatusCondition(res.Accepted.Status.Upstreams[0].Conditions, v1alpha1.ConditionBackendTLSPolicyAccepted)
		Expect(accepted.Reason).To(Equal(v1alpha1.ReasonAccepted))
	}, SpecTimeout(stepTimeout))

	It("refuses a verify depth by name where a BackendTLSPolicy cannot express it, and leaves the policy as it was", func(ctx SpecContext) {
		res, err := story.NotExpressible(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Tenant.Status.Upstreams).To(HaveLen(1))
		Expect(res.Tenant.Status.Upstreams[0].GatewayHost).To(Equal(demo.GatewayAPIService+"."+demo.Namespace+".svc"), "the last good spec's address stays")
		up := meta.FindStatusCondition(res.Tenant.Status.Upstreams[0].Conditions, v1alpha1.ConditionReady)
		Expect(up.Status).To(Equal(metav1.ConditionFalse))
		Expect(up.Reason).To(Equal(v1alpha1.ReasonNotExpressibleInBackendTLSPolicy))
		Expect(up.Message).To(And(ContainSubstring("tls.verifyDepth"), ContainSubstring("spec.upstreamTLS.mode"),
			ContainSubstring("It keeps its last good spec")))
		Expect(res.After.Generation).To(Equal(res.Before.Generation))
		Expect(res.After.Spec).To(Equal(res.Before.Spec))
		Expect(policiesOf(ctx, demo.GatewayAPITenant)).To(HaveLen(1), "the NetworkPolicy of the last good spec stays")
	}, SpecTimeout(stepTimeout))

	It("verifies the upstream with a ClusterTrustBundle and presents a pod certificate, with no Secret in the namespace", func(ctx SpecContext) {
		res, err := story.ClusterTrust(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(200))
		expectVerified(res.Tenant, metav1.ConditionTrue, v1alpha1.ReasonVerified)
		expectCondition(res.Tenant, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

		By("the pod mounts the signer's bundles and a pod certificate through the kubelet's projections")
		var bundles, podCerts int
		for _, v := range res.Rendered.Deployment.Spec.Template.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for _, src := range v.Projected.Sources {
				Expect(src.Secret).To(BeNil(), "the pod mounts a Secret")
				if ctb := src.ClusterTrustBundle; ctb != nil && ptr.Deref(ctb.SignerName, "") == demo.UpstreamsSigner {
					bundles++
				}
				if pc := src.PodCertificate; pc != nil && pc.SignerName == demo.ClientsSigner && pc.CredentialBundlePath != "" {
					podCerts++
				}
			}
		}
		Expect([]int{bundles, podCerts}).To(Equal([]int{1, 1}))

		By("the upstream saw the replica's own certificate, and the tenant's status names it")
		cc := res.Tenant.Status.Upstreams[0].ClientCertificate
		Expect(cc).NotTo(BeNil())
		Expect(cc.SignerName).To(Equal(demo.ClientsSigner))
		Expect(cc.Replicas).To(HaveLen(1))
		Expect(cc.Replicas[0].Subject).To(Equal(res.ClientSubject))
		Expect(res.ClientSubject).To(HavePrefix("CN=" + demo.TLSTenant + "-proxy-pod-"))
		Expect(res.Secrets).To(BeZero())
		secrets := &corev1.SecretList{}
		Expect(k8sClient.List(ctx, secrets, client.InNamespace(demo.Namespace))).To(Succeed())
		Expect(secrets.Items).To(BeEmpty())
	}, SpecTimeout(stepTimeout))
})

// tenantGuideSilverPolicy is the Silver policy of the gateway's tenant guide, with each rule
// narrowed to the upstream's port and the policy type the API server defaults.
func tenantGuideSilverPolicy(port int32) networkingv1.NetworkPolicySpec {
	root, err := harness.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "controllers", "gatewaytenant", "testdata", "tenant-guide-silver.yaml"))
	Expect(err).NotTo(HaveOccurred())
	guide := &networkingv1.NetworkPolicy{}
	Expect(yaml.UnmarshalStrict(data, guide)).To(Succeed())
	spec := guide.Spec
	Expect(spec.Ingress).To(HaveLen(2), "the guide has one rule per gateway environment")
	for i := range spec.Ingress {
		spec.Ingress[i].Ports = []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(port))}}
		// The preset also pins the gateway namespace by name (264e6f-<environment>), which
		// a namespace copying the labels cannot match.
		sel := spec.Ingress[i].From[0].NamespaceSelector
		sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn,
			Values: []string{sel.MatchLabels["name"] + "-" + sel.MatchLabels["environment"]}}}
	}
	spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	return spec
}

func getTenant(ctx SpecContext, name string) *v1alpha1.GatewayTenant {
	t := &v1alpha1.GatewayTenant{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: demo.Namespace, Name: name}, t)).To(Succeed())
	return t
}

// expectCondition checks a tenant condition, computed for the tenant's current generation.
func expectCondition(t *v1alpha1.GatewayTenant, typ string, status metav1.ConditionStatus, reason string) {
	GinkgoHelper()
	c := meta.FindStatusCondition(t.Status.Conditions, typ)
	Expect(c).NotTo(BeNil(), "condition %s", typ)
	Expect(c.Status).To(Equal(status), "condition %s: %s", typ, c.Message)
	Expect(c.Reason).To(Equal(reason), "condition %s: %s", typ, c.Message)
	Expect(c.ObservedGeneration).To(Equal(t.Generation), "condition %s", typ)
}

// expectUpstreamNotReady checks the tenant's only upstream is not ready for reason, and has
// no gateway address.
func expectUpstreamNotReady(t *v1alpha1.GatewayTenant, reason string) metav1.Condition {
	GinkgoHelper()
	Expect(t.Status.Upstreams).To(HaveLen(1))
	up := t.Status.Upstreams[0]
	Expect(up.GatewayHost).To(BeEmpty())
	c := meta.FindStatusCondition(up.Conditions, v1alpha1.ConditionReady)
	Expect(c).NotTo(BeNil())
	Expect(c.Status).To(Equal(metav1.ConditionFalse))
	Expect(c.Reason).To(Equal(reason), c.Message)
	return *c
}

func policiesOf(ctx SpecContext, tenant string) []networkingv1.NetworkPolicy {
	list := &networkingv1.NetworkPolicyList{}
	Expect(k8sClient.List(ctx, list, client.InNamespace(demo.Namespace), client.MatchingLabels{v1alpha1.LabelTenant: tenant})).To(Succeed())
	return list.Items
}

// failureStep runs a step of the story whose request must fail with reason, rendered with
// verifyDepth depth, as the tenant's generation-th spec; the tenant reports the proxy's
// verification as condition reason conditionReason.
func failureStep(step func(*demo.Story, context.Context) (*demo.FailureResult, error), reason contract.Reason, conditionReason string, depth int, generation int64) func(SpecContext) {
	return func(ctx SpecContext) {
		res, err := step(story, ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Rendered.Config.Upstreams[0].TLS.VerifyDepth).To(Equal(ptr.To(depth)))
		expectFailure(res, reason)
		tenant := getTenant(ctx, demo.TLSTenant)
		expectTenantAccepted(tenant, generation, res.Rendered.Service)
		expectVerified(tenant, metav1.ConditionFalse, conditionReason)
		expectCondition(tenant, v1alpha1.ConditionReady, metav1.ConditionFalse, conditionReason)
		Expect(meta.FindStatusCondition(tenant.Status.Conditions, v1alpha1.ConditionReady).Message).To(HavePrefix(`upstream "` + demo.TLSUpstreamService + `": `))
	}
}

// expectVerified checks the Verified condition of the tenant's only upstream.
func expectVerified(t *v1alpha1.GatewayTenant, status metav1.ConditionStatus, reason string) {
	GinkgoHelper()
	Expect(t.Status.Upstreams).To(HaveLen(1))
	c := meta.FindStatusCondition(t.Status.Upstreams[0].Conditions, v1alpha1.ConditionVerified)
	Expect(c).NotTo(BeNil())
	Expect(c.Status).To(Equal(status), c.Message)
	Expect(c.Reason).To(Equal(reason), c.Message)
	Expect(c.ObservedGeneration).To(Equal(t.Generation))
}

// expectFailure checks the proxy's own 502: its JSON body names the reason, the upstream and
// the request, the request never reached the upstream, and /readyz reports the reason.
func expectFailure(res *demo.FailureResult, reason contract.Reason) {
	GinkgoHelper()
	Expect(res.Response.Status).To(Equal(502), res.Response.Body)
	Expect(res.Response.ContentType).To(HavePrefix("application/json"))
	Expect(res.Response.Failure).NotTo(BeNil())
	Expect(*res.Response.Failure).To(beFailure(reason, res.RequestID))
	Expect(res.UpstreamRequestsAfter).To(Equal(res.UpstreamRequestsBefore), "nothing of the request reached the upstream")
	Expect(res.LastResult).To(Equal(string(reason)))
}

// beFailure matches a proxy failure body with reason, the TLS upstream and requestID.
func beFailure(reason contract.Reason, requestID string) OmegaMatcher {
	return And(
		HaveField("Reason", reason),
		HaveField("Upstream", demo.TLSUpstreamService),
		HaveField("RequestID", requestID),
		HaveField("Message", Not(BeEmpty())),
	)
}

// expectTenantAccepted checks the tenant's status is computed for generation: the operator
// took the change, re-rendered the proxy, and saw it roll out; the references resolve and the
// gateway still calls the proxy's Service (whether traffic gets through is Verified's).
func expectTenantAccepted(t *v1alpha1.GatewayTenant, generation int64, proxySvc *corev1.Service) {
	GinkgoHelper()
	Expect(t.Generation).To(Equal(generation))
	Expect(t.Status.ObservedGeneration).To(Equal(generation))
	expectCondition(t, v1alpha1.ConditionResolvedRefs, metav1.ConditionTrue, v1alpha1.ReasonResolvedRefs)
	expectCondition(t, v1alpha1.ConditionProxyReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	Expect(t.Status.Upstreams).To(HaveExactElements(HaveField("GatewayHost", proxySvc.Name+"."+demo.Namespace+".svc")))
}
