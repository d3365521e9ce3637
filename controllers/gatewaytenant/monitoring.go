package gatewaytenant

// The cluster's Prometheus reaching each proxy's admin port: a rule of the proxy's
// NetworkPolicy and, with the Prometheus operator, a PodMonitor.

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=podmonitors,verbs=get;list;watch;create;update;patch;delete

// MonitoringSettings say how the cluster's Prometheus scrapes the tenants' proxies.
type MonitoringSettings struct {
	// NamespaceSelector selects the namespaces whose pods may reach each proxy's admin port
	// (/metrics, /readyz); nil admits none. OpenShift's monitoring namespaces carry
	// network.openshift.io/policy-group: monitoring.
	NamespaceSelector *metav1.LabelSelector
	// PodMonitors creates a PodMonitor per tenant proxy. The manager turns it off at start
	// when the monitoring.coreos.com PodMonitor CRD is absent.
	PodMonitors bool
}

// monitoringPeer is the monitoring namespaces, admitted to the proxy's admin port only; nil
// when none are configured.
func monitoringPeer(m MonitoringSettings) *networkingv1.NetworkPolicyPeer {
	if m.NamespaceSelector == nil {
		return nil
	}
	return &networkingv1.NetworkPolicyPeer{NamespaceSelector: m.NamespaceSelector.DeepCopy()}
}

// proxyPodMonitor asks the Prometheus operator to scrape the proxy pods' /metrics.
func proxyPodMonitor(tenant *v1alpha1.GatewayTenant) *monitoringv1.PodMonitor {
	return &monitoringv1.PodMonitor{
		ObjectMeta: proxyMeta(tenant, proxyName(tenant.Name)),
		Spec: monitoringv1.PodMonitorSpec{
			Selector: metav1.LabelSelector{MatchLabels: proxySelector(tenant.Name)},
			PodMetricsEndpoints: []monitoringv1.PodMetricsEndpoint{{
				Port: ptr.To("admin"),
				Path: "/metrics",
			}},
		},
	}
}

// podMonitorAsSent is a PodMonitor as it is sent to the API server. Go's encoding of the type
// writes bearerTokenSecret, a struct and not a pointer, even when empty: a reference to a key
// "" of a Secret named "". Sent as unstructured content without it, the stored object holds
// only what the operator means.
func podMonitorAsSent(pm *monitoringv1.PodMonitor) (*unstructured.Unstructured, error) {
	pm = pm.DeepCopy()
	pm.APIVersion, pm.Kind = monitoringv1.SchemeGroupVersion.String(), monitoringv1.PodMonitorsKind
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pm)
	if err != nil {
		return nil, err
	}
	endpoints, _, _ := unstructured.NestedSlice(obj, "spec", "podMetricsEndpoints")
	for _, e := range endpoints {
		if ep, ok := e.(map[string]any); ok && isEmptySecretKeySelector(ep["bearerTokenSecret"]) {
			delete(ep, "bearerTokenSecret")
		}
	}
	if err := unstructured.SetNestedSlice(obj, endpoints, "spec", "podMetricsEndpoints"); err != nil {
		return nil, err
	}
	delete(obj, "status")
	return &unstructured.Unstructured{Object: obj}, nil
}

// isEmptySecretKeySelector says whether v is a SecretKeySelector that names nothing.
func isEmptySecretKeySelector(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, k := range []string{"name", "key"} {
		if s, _ := m[k].(string); s != "" {
			return false
		}
	}
	return m["optional"] == nil
}
