package gatewaytenant_test

import (
	"context"
	"os"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

var ctx = context.Background()

// newNamespace creates a namespace of its own for one test.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tenant-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// newService creates a Service selecting pods labelled name=<name> on port 8443, after
// tweaks.
func newService(ns, name string, tweaks ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"name": name},
			Ports:    []corev1.ServicePort{{Name: "https", Port: 8443, TargetPort: intstr.FromInt32(8443)}},
		},
	}
	for _, t := range tweaks {
		t(svc)
	}
	Expect(k8sClient.Create(ctx, svc)).To(Succeed())
	return svc
}

// upstream is the upstream "name" addressing the Service of that name in ns on port 8443.
func upstream(ns, name string) v1alpha1.Upstream {
	return v1alpha1.Upstream{Name: name, Host: name + "." + ns + ".svc", Port: 8443}
}

// newTenant creates a GatewayTenant "my-api" in ns for environments [test, prod] with the
// given upstreams, after tweaks.
func newTenant(ns string, upstreams []v1alpha1.Upstream, tweaks ...func(*v1alpha1.GatewayTenant)) *v1alpha1.GatewayTenant {
	t := &v1alpha1.GatewayTenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-api"},
		Spec: v1alpha1.GatewayTenantSpec{
			Environments: []v1alpha1.EnvironmentName{"test", "prod"},
			Upstreams:    upstreams,
		},
	}
	for _, tw := range tweaks {
		tw(t)
	}
	Expect(k8sClient.Create(ctx, t)).To(Succeed())
	return t
}

// update re-reads obj, applies change and writes it, retrying on conflicts.
func update[T client.Object](obj T, change func(T)) {
	Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return k8sClient.Update(ctx, obj)
	}).Should(Succeed())
}

// condition returns the tenant's current condition of type typ, re-read from the API server.
func condition(g Gomega, t *v1alpha1.GatewayTenant, typ string) metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
	c := meta.FindStatusCondition(t.Status.Conditions, typ)
	g.Expect(c).NotTo(BeNil(), "condition %s missing", typ)
	g.Expect(c.ObservedGeneration).To(Equal(t.Generation), "condition %s is stale", typ)
	return *c
}

// upstreamCondition returns the Ready condition of one upstream of the tenant.
func upstreamStatus(g Gomega, t *v1alpha1.GatewayTenant, name string) (v1alpha1.UpstreamStatus, metav1.Condition) {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
	g.Expect(t.Status.ObservedGeneration).To(Equal(t.Generation))
	for _, u := range t.Status.Upstreams {
		if u.Name == name {
			c := meta.FindStatusCondition(u.Conditions, v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			return u, *c
		}
	}
	g.Expect(name).To(BeEmpty(), "upstream %s has no status", name)
	return v1alpha1.UpstreamStatus{}, metav1.Condition{}
}

// expectReady waits until the tenant is Ready.
func expectReady(t *v1alpha1.GatewayTenant) {
	Eventually(func(g Gomega) {
		c := condition(g, t, v1alpha1.ConditionReady)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
	}).Should(Succeed())
}

// networkPolicy waits for and returns the NetworkPolicy of an upstream of tenant my-api.
func networkPolicy(ns, upstream string) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{}
	key := client.ObjectKey{Namespace: ns, Name: "my-api." + upstream + "-from-gateway"}
	Eventually(func() error { return k8sClient.Get(ctx, key, np) }).Should(Succeed())
	return np
}

// tenantGuidePolicy reads a NetworkPolicy of the gateway's tenant guide from testdata.
func tenantGuidePolicy(file string) *networkingv1.NetworkPolicy {
	data, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	np := &networkingv1.NetworkPolicy{}
	Expect(yaml.UnmarshalStrict(data, np)).To(Succeed())
	return np
}
