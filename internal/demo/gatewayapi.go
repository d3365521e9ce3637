package demo

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
)

// The Gateway API part of the story (step 4): a platform whose gateway verifies upstream
// TLS itself through BackendTLSPolicies.
const (
	// GatewayAPIDataPlane is the data plane of a Gateway API gateway in GatewayNamespace.
	GatewayAPIDataPlane = "envoy-gateway"
	// GatewayNamespace is where that gateway runs.
	GatewayNamespace = "envoy-gateway-system"
	// GatewayAPITenant exposes GatewayAPIService to that gateway.
	GatewayAPITenant = "my-gateway-api"
	// GatewayAPIService is its TLS upstream's Service, with the port named https.
	GatewayAPIService = "my-verified-upstream-api"
	// ImplementationController is the controllerName the story writes status.ancestors as,
	// playing the gateway's implementation.
	ImplementationController = "gateway.envoyproxy.io/gatewayclass-controller"
)

// GatewayAPIResult is what step 4a observed.
type GatewayAPIResult struct {
	Tenant           *v1alpha1.GatewayTenant
	BackendTLSPolicy *gwapiv1.BackendTLSPolicy
	NetworkPolicy    *networkingv1.NetworkPolicy
	// ProxyObjects counts the Deployments and Services labelled with the tenant: none.
	ProxyObjects int
}

// GatewayVerifies is step 4a: the platform team adds a data plane whose gateway verifies TLS
// upstreams through BackendTLSPolicy, and a tenant exposes a TLS upstream to it. The
// operator writes a BackendTLSPolicy and a NetworkPolicy straight to the pods, and no proxy.
func (s *Story) GatewayVerifies(ctx context.Context) (*GatewayAPIResult, error) {
	p := s.p()
	p.step("4a. A Gateway API platform: the gateway verifies TLS upstreams itself, through BackendTLSPolicy")
	dp := &v1alpha1.GatewayDataPlane{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayAPIDataPlane},
		Spec: v1alpha1.GatewayDataPlaneSpec{
			Environments: []v1alpha1.DataPlaneEnvironment{{Name: "prod",
				NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": GatewayNamespace}}}},
			UpstreamTLS: &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy},
		},
	}
	p.line("the platform team:")
	if err := s.apply(ctx, dp); err != nil {
		return nil, err
	}
	svc := upstreamService(GatewayAPIService)
	if err := s.create(ctx, svc); err != nil {
		return nil, err
	}
	p.line("created Service %s (selector name=%s, port %d named %s: a BackendTLSPolicy targets a port by name)",
		svc.Name, GatewayAPIService, UpstreamPort, svc.Spec.Ports[0].Name)
	host := serviceHost(GatewayAPIService, Namespace)
	u := upstream(GatewayAPIService, host, UpstreamPort)
	u.TLS = &v1alpha1.UpstreamTLS{Validation: v1alpha1.UpstreamTLSValidation{
		CACertificateRefs: []v1alpha1.CACertificateReference{{Kind: "ConfigMap", Name: CAConfigMap}},
	}}
	tenant := newTenant(GatewayAPITenant, u)
	tenant.Spec.DataPlane, tenant.Spec.Environments, tenant.Spec.GatewayID = GatewayAPIDataPlane, []v1alpha1.EnvironmentName{"prod"}, ""
	p.line("the tenant:")
	if err := s.apply(ctx, tenant); err != nil {
		return nil, err
	}
	t, err := s.waitTenant(ctx, GatewayAPITenant, "Ready=True", func(t *v1alpha1.GatewayTenant) bool {
		return meta.IsStatusConditionTrue(t.Status.Conditions, v1alpha1.ConditionReady)
	})
	if err != nil {
		return nil, err
	}
	res := &GatewayAPIResult{Tenant: t, BackendTLSPolicy: &gwapiv1.BackendTLSPolicy{}}
	if err := s.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: GatewayAPITenant + "." + GatewayAPIService}, res.BackendTLSPolicy); err != nil {
		return nil, fmt.Errorf("the tenant's BackendTLSPolicy: %w", err)
	}
	p.line("the operator wrote this BackendTLSPolicy, owned by the tenant: the Service port by name, the tenant's")
	p.line("validation as it is, the upstream's host as the hostname; the CRD's own rules admitted it:")
	p.block(yamlOf(res.BackendTLSPolicy))
	if res.NetworkPolicy, err = s.upstreamPolicy(ctx, GatewayAPITenant, GatewayAPIService); err != nil {
		return nil, err
	}
	p.line("and this NetworkPolicy: the gateway's namespace straight to the upstream's pods, on the target port:")
	p.block(yamlOf(res.NetworkPolicy))
	if res.ProxyObjects, err = s.countLabelled(ctx, GatewayAPITenant); err != nil {
		return nil, err
	}
	p.line("no proxy: %d Deployments and Services labelled %s=%s", res.ProxyObjects, v1alpha1.LabelTenant, GatewayAPITenant)
	p.tenantStatus(t)
	p.line("Ready, and it says what it does not know yet: no implementation has reported on the policy")
	return res, nil
}

// ReportResult is what step 4b observed.
type ReportResult struct {
	// Refused is the tenant once the implementation refused the policy; Accepted once it
	// accepted it.
	Refused, Accepted *v1alpha1.GatewayTenant
}

// ImplementationReports is step 4b: the demo plays the gateway's implementation, which
// envtest does not run, and writes what it found into the policy's status.ancestors: first a
// refusal, then an acceptance. Both show in the tenant's conditions.
func (s *Story) ImplementationReports(ctx context.Context) (*ReportResult, error) {
	p := s.p()
	p.step("4b. The gateway's implementation reports on the policy; the tenant reads it in its own conditions")
	res := &ReportResult{}
	p.line("playing the implementation (%s) for Gateway %s/eg, which envtest does not run:", ImplementationController, GatewayNamespace)
	var err error
	refused := [3]string{string(gwapiv1.PolicyConditionAccepted), "False", string(gwapiv1.BackendTLSPolicyReasonNoValidCACertificate)}
	unresolved := [3]string{string(gwapiv1.BackendTLSPolicyConditionResolvedRefs), "False", string(gwapiv1.BackendTLSPolicyReasonInvalidCACertificateRef)}
	if err = s.report(ctx, "ConfigMap upstream-ca is not readable by the gateway", refused, unresolved); err != nil {
		return res, err
	}
	if res.Refused, err = s.waitTenant(ctx, GatewayAPITenant, "Ready=False/NoValidCACertificate", func(t *v1alpha1.GatewayTenant) bool {
		c := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == refused[2]
	}); err != nil {
		return res, err
	}
	p.tenantStatus(res.Refused)
	accepted := [3]string{string(gwapiv1.PolicyConditionAccepted), "True", string(gwapiv1.PolicyReasonAccepted)}
	resolved := [3]string{string(gwapiv1.BackendTLSPolicyConditionResolvedRefs), "True", string(gwapiv1.BackendTLSPolicyReasonResolvedRefs)}
	if err = s.report(ctx, "the policy applies", accepted, resolved); err != nil {
		return res, err
	}
	if res.Accepted, err = s.waitTenant(ctx, GatewayAPITenant, "BackendTLSPolicyAccepted=True", func(t *v1alpha1.GatewayTenant) bool {
		return len(t.Status.Upstreams) == 1 &&
			meta.IsStatusConditionTrue(t.Status.Upstreams[0].Conditions, v1alpha1.ConditionBackendTLSPolicyAccepted) &&
			meta.IsStatusConditionTrue(t.Status.Conditions, v1alpha1.ConditionReady)
	}); err != nil {
		return res, err
	}
	p.tenantStatus(res.Accepted)
	return res, nil
}

// report writes status.ancestors of the tenant's BackendTLSPolicy as the implementation would,
// for its current generation, and shows each condition.
func (s *Story) report(ctx context.Context, message string, conds ...[3]string) error {
	key := client.ObjectKey{Namespace: Namespace, Name: GatewayAPITenant + "." + GatewayAPIService}
	var cs []metav1.Condition
	for _, c := range conds {
		cs = append(cs, metav1.Condition{Type: c[0], Status: metav1.ConditionStatus(c[1]), Reason: c[2], Message: message})
		s.p().line("  status.ancestors[0].conditions: %s=%s %s: %s", c[0], c[1], c[2], message)
	}
	return controlplane.ReportOnBackendTLSPolicy(ctx, s.Client, key, types.NamespacedName{Namespace: GatewayNamespace, Name: "eg"}, ImplementationController, cs...)
}

// NotExpressibleResult is what step 4c observed.
type NotExpressibleResult struct {
	Tenant *v1alpha1.GatewayTenant
	// Before and After are the tenant's BackendTLSPolicy before and after the change: the same.
	Before, After *gwapiv1.BackendTLSPolicy
}

// NotExpressible is step 4c: the tenant asks for a verify depth, which a BackendTLSPolicy
// cannot express. The operator refuses it by name, writes nothing that would look enforced,
// and the policy keeps its last good spec.
func (s *Story) NotExpressible(ctx context.Context) (*NotExpressibleResult, error) {
	p := s.p()
	p.step("4c. What a BackendTLSPolicy cannot express is refused by name, never dropped")
	key := client.ObjectKey{Namespace: Namespace, Name: GatewayAPITenant + "." + GatewayAPIService}
	res := &NotExpressibleResult{Before: &gwapiv1.BackendTLSPolicy{}, After: &gwapiv1.BackendTLSPolicy{}}
	if err := s.Client.Get(ctx, key, res.Before); err != nil {
		return nil, err
	}
	p.line(`kubectl -n %s patch gatewaytenant %s --type=json -p '[{"op":"add","path":"/spec/upstreams/0/tls/verifyDepth","value":1}]'`, Namespace, GatewayAPITenant)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		t := &v1alpha1.GatewayTenant{}
		if err := s.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: GatewayAPITenant}, t); err != nil {
			return err
		}
		t.Spec.Upstreams[0].TLS.VerifyDepth = ptr.To[int32](1)
		return s.Client.Update(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	if res.Tenant, err = s.waitTenant(ctx, GatewayAPITenant, "Ready=False", func(t *v1alpha1.GatewayTenant) bool {
		return meta.IsStatusConditionFalse(t.Status.Conditions, v1alpha1.ConditionReady)
	}); err != nil {
		return res, err
	}
	if err := s.Client.Get(ctx, key, res.After); err != nil {
		return res, err
	}
	p.tenantStatus(res.Tenant)
	p.line("BackendTLSPolicy %s keeps generation %d, the last good spec: nothing claims a depth it does not enforce", key.Name, res.After.Generation)
	return res, nil
}

// countLabelled counts the Deployments and Services labelled with the tenant.
func (s *Story) countLabelled(ctx context.Context, tenant string) (int, error) {
	n := 0
	for _, l := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}} {
		if err := s.Client.List(ctx, l, client.InNamespace(Namespace), client.MatchingLabels{v1alpha1.LabelTenant: tenant}); err != nil {
			return 0, err
		}
		n += meta.LenList(l)
	}
	return n, nil
}
