package gatewaytenant

// Day-two concerns of a tenant's proxy: the cluster's Prometheus reaching its admin port
// (a NetworkPolicy and, with the Prometheus operator, a PodMonitor), and proxy image
// upgrades rolled out at a bounded rate across tenants.

import (
	"context"
	"fmt"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// ensurePodMonitor writes the proxy's PodMonitor when PodMonitors are on.
func (r *Reconciler) ensurePodMonitor(ctx context.Context, tenant *v1alpha1.GatewayTenant) error {
	if !r.Proxy.Monitoring.PodMonitors {
		return nil
	}
	return apply(ctx, r, tenant, proxyPodMonitor(tenant))
}

// Rollout bounds how fast a new proxy image reaches existing proxies: an operator upgrade
// changes every tenant's proxy at once, and a thousand rollouts in a burst are a stampede.
// One token per proxy whose image changes; proxies created new, and changes of a proxy's
// own configuration, do not wait.
type Rollout struct {
	limiter *rate.Limiter
}

// NewRollout allows perMinute image changes a minute, in bursts of up to burst; perMinute
// 0 means no bound.
func NewRollout(perMinute float64, burst int) *Rollout {
	if perMinute <= 0 {
		return &Rollout{limiter: rate.NewLimiter(rate.Inf, 0)}
	}
	return &Rollout{limiter: rate.NewLimiter(rate.Limit(perMinute/60), max(burst, 1))}
}

// outdated is a proxy that still runs an older image, and when it may next try.
type outdated struct {
	image, want string
	retry       time.Duration
}

// holdImage keeps the stored proxy's image in desired when the image changes and no token is
// free, and says so; it takes a token when the change may go ahead.
func (r *Reconciler) holdImage(ctx context.Context, desired *appsv1.Deployment) (*outdated, error) {
	if r.Rollout == nil {
		return nil, nil
	}
	stored := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), stored); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	have, want := proxyImage(stored), proxyImage(desired)
	if have == "" || have == want {
		return nil, nil
	}
	res := r.Rollout.limiter.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		desired.Spec.Template.Spec.Containers[0].Image = have
		return &outdated{image: have, want: want, retry: d}, nil
	}
	return nil, nil
}

func proxyImage(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == componentProxy {
			return c.Image
		}
	}
	return ""
}

// outdatedMessage is the ProxyReady message of a proxy that waits for its upgrade.
func outdatedMessage(o *outdated) string {
	return fmt.Sprintf("the proxy still runs %s; its upgrade to %s waits its turn (at most --proxy-rollouts-per-minute proxies change image a minute)", o.image, o.want)
}
