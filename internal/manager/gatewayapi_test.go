package manager_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/manager"
)

// A data plane in BackendTLSPolicy mode on a cluster without the Gateway API CRDs: the
// manager starts and runs, the data plane and the tenant say why nothing is written, and the
// proxy a tenant had stays. Once the CRDs are installed, the next manager finds them at start
// and moves the tenant to the gateway.
func TestBackendTLSPolicyModeWithoutAndWithTheCRDs(t *testing.T) {
	d := startDayTwo(t)
	ctx := context.Background()
	plane := &v1alpha1.GatewayDataPlane{
		ObjectMeta: metav1.ObjectMeta{Name: "gwapi"},
		Spec: v1alpha1.GatewayDataPlaneSpec{Environments: []v1alpha1.DataPlaneEnvironment{
			{Name: "prod", NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"gateway": "envoy"}}},
		}},
	}
	d.g.Expect(d.c.Create(ctx, plane)).To(Succeed())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-"}}
	d.g.Expect(d.c.Create(ctx, ns)).To(Succeed())
	d.g.Expect(d.c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "secure"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"name": "secure"},
			Ports: []corev1.ServicePort{{Name: "https", Port: 8443, TargetPort: intstr.FromInt32(8443)}}},
	})).To(Succeed())
	d.g.Expect(d.c.Create(ctx, &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "api"},
		Spec: v1alpha1.GatewayTenantSpec{DataPlane: "gwapi", Upstreams: []v1alpha1.Upstream{{
			Name: "secure", Host: "secure." + ns.Name + ".svc", Port: 8443,
			TLS: &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{WellKnownCACertificates: ptr.To(gwapiv1.WellKnownCACertificatesSystem)}},
		}}},
	})).To(Succeed())
	options := manager.Options{Proxy: gatewaytenant.ProxySettings{Image: "op:1", Replicas: 1}}

	stop := d.run(options)
	d.g.Eventually(func(g Gomega) { d.proxy(g, ns.Name) }).Should(Succeed())
	d.available(ns.Name)
	d.g.Eventually(func(g Gomega) {
		g.Expect(upstreamReady(g, d.c, ns.Name).Status).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())

	// The platform team switches the data plane to BackendTLSPolicy on a cluster without it.
	d.g.Eventually(func() error {
		if err := d.c.Get(ctx, client.ObjectKeyFromObject(plane), plane); err != nil {
			return err
		}
		plane.Spec.UpstreamTLS = &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy}
		return d.c.Update(ctx, plane)
	}).Should(Succeed())
	d.g.Eventually(func(g Gomega) {
		g.Expect(d.c.Get(ctx, client.ObjectKeyFromObject(plane), plane)).To(Succeed())
		c := meta.FindStatusCondition(plane.Status.Conditions, v1alpha1.ConditionUpstreamTLSReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonBackendTLSPolicyUnavailable))
		g.Expect(c.ObservedGeneration).To(Equal(plane.Generation))

		ready := upstreamReady(g, d.c, ns.Name)
		g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonBackendTLSPolicyUnavailable))
		g.Expect(ready.Message).To(ContainSubstring("It keeps its last good spec, which the gateway reaches at api-proxy." + ns.Name + ".svc:8443"))
		t := tenant(g, d.c, ns.Name)
		c = meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionBackendTLSPolicyReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonBackendTLSPolicyUnavailable))
	}).Should(Succeed())
	d.g.Consistently(func(g Gomega) {
		d.proxy(g, ns.Name) // what the tenant had stays
		g.Expect(policies(g, d.c, ns.Name)).To(ConsistOf("api-proxy", "api.secure-from-proxy"))
	}, "2s", "200ms").Should(Succeed())
	stop()
	d.g.Expect(d.log.containing("No BackendTLSPolicies", "backendtlspolicies")).To(HaveLen(1))

	// The CRDs arrive; the next manager finds them at start and moves the tenant.
	crds, err := controlplane.GatewayAPICRDs(controlplane.GatewayAPIStandard...)
	d.g.Expect(err).NotTo(HaveOccurred())
	_, err = envtest.InstallCRDs(d.env.Config, envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true})
	d.g.Expect(err).NotTo(HaveOccurred())
	d.run(options)
	d.g.Eventually(func(g Gomega) {
		p := &gwapiv1.BackendTLSPolicy{}
		g.Expect(d.c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "api.secure"}, p)).To(Succeed())
		g.Expect(p.Spec.Validation.WellKnownCACertificates).To(Equal(ptr.To(gwapiv1.WellKnownCACertificatesSystem)))
		g.Expect(policies(g, d.c, ns.Name)).To(ConsistOf("api.secure-from-gateway"))
		g.Expect(d.c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "api-proxy"}, &appsv1.Deployment{})).NotTo(Succeed())
		g.Expect(d.c.Get(ctx, client.ObjectKeyFromObject(plane), plane)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(plane.Status.Conditions, v1alpha1.ConditionUpstreamTLSReady)).To(BeTrue())
	}).Should(Succeed())
}

// upstreamReady is the Ready condition of upstream "secure" of tenant "api" in ns, for the
// tenant's current generation.
func upstreamReady(g Gomega, c client.Client, ns string) metav1.Condition {
	t := tenant(g, c, ns)
	g.Expect(t.Status.Upstreams).To(HaveLen(1))
	cond := meta.FindStatusCondition(t.Status.Upstreams[0].Conditions, v1alpha1.ConditionReady)
	g.Expect(cond).NotTo(BeNil())
	return *cond
}

// policies are the names of the NetworkPolicies of ns.
func policies(g Gomega, c client.Client, ns string) []string {
	list := &networkingv1.NetworkPolicyList{}
	g.Expect(c.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
	var names []string
	for _, np := range list.Items {
		names = append(names, np.Name)
	}
	return names
}
