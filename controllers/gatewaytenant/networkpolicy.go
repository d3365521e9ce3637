package gatewaytenant

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// labelNamespaceName is set by the API server on every namespace to its name; tenants
// cannot spoof it, so it pins a data plane's namespaces by name.
const labelNamespaceName = "kubernetes.io/metadata.name"

// gatewayPeers are the NetworkPolicy peers of a data plane's environments: one per
// environment, its namespace selector, narrowed to its namespace names when it pins them.
func gatewayPeers(envs []v1alpha1.DataPlaneEnvironment) []networkingv1.NetworkPolicyPeer {
	peers := make([]networkingv1.NetworkPolicyPeer, 0, len(envs))
	for _, env := range envs {
		sel := env.NamespaceSelector.DeepCopy()
		if len(env.NamespaceNames) > 0 {
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
				Key:      labelNamespaceName,
				Operator: metav1.LabelSelectorOpIn,
				Values:   append([]string(nil), env.NamespaceNames...),
			})
		}
		peers = append(peers, networkingv1.NetworkPolicyPeer{NamespaceSelector: sel})
	}
	return peers
}

// ingressFrom builds one ingress rule per peer, each to the same ports: the shape of the
// gateway platform's documented policy, one "from" entry per gateway environment.
func ingressFrom(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) []networkingv1.NetworkPolicyIngressRule {
	rules := make([]networkingv1.NetworkPolicyIngressRule, 0, len(peers))
	for _, peer := range peers {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			From:  []networkingv1.NetworkPolicyPeer{peer},
			Ports: ports,
		})
	}
	return rules
}

// upstreamNetworkPolicy is the NetworkPolicy that lets the gateway's namespaces reach the pods
// of one plain upstream on its target ports, and nothing else.
func upstreamNetworkPolicy(tenant *v1alpha1.GatewayTenant, res upstreamResult, peers []networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
	meta := metav1.ObjectMeta{
		Name:      networkPolicyName(tenant.Name, res.upstream.Name),
		Namespace: tenant.Namespace,
		Labels:    upstreamLabels(tenant.Name, res.upstream.Name),
	}
	return ingressPolicy(meta, res.podSelector, peers, res.ports)
}

// ingressPolicy lets each peer reach the pods selected by podSelector on ports.
func ingressPolicy(meta metav1.ObjectMeta, podSelector map[string]string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: meta,
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: podSelector},
			Ingress:     ingressFrom(peers, ports),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
}

// networkPolicyName names the NetworkPolicy of one upstream of a tenant.
func networkPolicyName(tenant, upstream string) string {
	return tenant + "-" + upstream + "-from-gateway"
}

// tenantLabels are the labels of every object created for a tenant; the operator's caches
// select on them.
func tenantLabels(tenant string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "gatewaytenant",
		"app.kubernetes.io/instance":  tenant,
		v1alpha1.LabelManagedBy:       v1alpha1.ManagedByValue,
		v1alpha1.LabelTenant:          tenant,
		"app.kubernetes.io/part-of":   "gatewaytenant-operator",
		"app.kubernetes.io/component": "gateway-access",
	}
}

// upstreamLabels are the labels of an object created for one upstream of a tenant.
func upstreamLabels(tenant, upstream string) map[string]string {
	l := tenantLabels(tenant)
	l[v1alpha1.LabelUpstream] = upstream
	return l
}
