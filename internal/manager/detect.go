package manager

// What the manager learns of the cluster once, at start, by asking the API server directly:
// the data-plane preset, whether the Prometheus operator's PodMonitors and Gateway API's
// BackendTLSPolicies exist, and where the cluster DNS runs. It logs each choice and why.

import (
	"context"
	"fmt"
	"slices"

	configv1 "github.com/openshift/api/config/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
)

// learnPlatform chooses the data-plane preset, turns PodMonitors off when their CRD is
// absent, and sets the cluster DNS when o does not, logging each with its reason.
func learnPlatform(ctx context.Context, cfg *rest.Config, o *Options) (dataplane.Choice, error) {
	preset, err := dataplane.Choose(ctx, cfg, dataplane.Options{
		Preset: o.DataPlanePreset, Detect: o.DetectDataPlanePreset, Domains: o.PresetDomains,
	})
	if err != nil {
		return preset, fmt.Errorf("choosing the data-plane preset: %w", err)
	}
	log := ctrl.LoggerFrom(ctx).WithName("platform")
	if preset.Preset != "" {
		log.Info("Keeping the default GatewayDataPlane of a preset", "preset", preset.Preset, "reason", preset.Reason)
	} else {
		log.Info("Keeping no preset GatewayDataPlane", "reason", preset.Reason)
	}
	if o.Proxy.Monitoring.PodMonitors {
		if o.Proxy.Monitoring.PodMonitors, err = hasPodMonitors(cfg); err != nil {
			return preset, err
		}
		if o.Proxy.Monitoring.PodMonitors {
			log.Info("A PodMonitor for each proxy: the monitoring.coreos.com/v1 PodMonitor CRD is installed")
		} else {
			log.Info("No PodMonitors for the proxies: the monitoring.coreos.com/v1 PodMonitor CRD is not installed")
		}
	}
	if o.Proxy.ClusterDNS.Namespace == "" {
		dc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			return preset, fmt.Errorf("creating discovery client: %w", err)
		}
		dns, why, err := detectClusterDNS(dc)
		if err != nil {
			return preset, fmt.Errorf("detecting the cluster DNS: %w", err)
		}
		o.Proxy.ClusterDNS = dns
		log.Info("Proxies may reach the cluster DNS", "clusterDNS", dns.String(), "reason", why)
	}
	return preset, nil
}

// hasPodMonitors says whether the API server serves monitoring.coreos.com/v1 PodMonitors.
func hasPodMonitors(cfg *rest.Config) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	resources, err := dc.ServerResourcesForGroupVersion(monitoringv1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", monitoringv1.SchemeGroupVersion, err)
	}
	return slices.ContainsFunc(resources.APIResources, func(r metav1.APIResource) bool { return r.Name == monitoringv1.PodMonitorName }), nil
}

// hasBackendTLSPolicies says whether the API server serves gateway.networking.k8s.io/v1
// BackendTLSPolicies (the Gateway API standard CRDs, v1.4 or later), and logs what follows.
// Without them the operator neither watches nor writes any, and data planes whose mode is
// BackendTLSPolicy say so in their UpstreamTLSReady condition; installing the CRDs later
// takes a restart of the manager.
func hasBackendTLSPolicies(ctx context.Context, cfg *rest.Config) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	log := ctrl.LoggerFrom(ctx).WithName("platform")
	resources, err := dc.ServerResourcesForGroupVersion(gwapiv1.GroupVersion.String())
	switch {
	case apierrors.IsNotFound(err):
		resources = &metav1.APIResourceList{}
	case err != nil:
		return false, fmt.Errorf("discovering %s: %w", gwapiv1.GroupVersion, err)
	}
	if !slices.ContainsFunc(resources.APIResources, func(r metav1.APIResource) bool { return r.Name == "backendtlspolicies" }) {
		log.Info("No BackendTLSPolicies: the API server does not serve gateway.networking.k8s.io/v1 backendtlspolicies; " +
			"data planes in BackendTLSPolicy mode are reported unavailable until the Gateway API CRDs are installed and the manager restarts")
		return false, nil
	}
	log.Info("BackendTLSPolicies for data planes in BackendTLSPolicy mode: the API server serves gateway.networking.k8s.io/v1 backendtlspolicies")
	return true, nil
}

// detectClusterDNS picks OpenShiftDNS when the API server serves OpenShift's
// config.openshift.io/v1, else KubeDNS, and says why.
func detectClusterDNS(dc discovery.DiscoveryInterface) (gatewaytenant.ClusterDNS, string, error) {
	_, err := dc.ServerResourcesForGroupVersion(configv1.GroupVersion.String())
	switch {
	case apierrors.IsNotFound(err):
		return gatewaytenant.KubeDNS, "not OpenShift: the API server does not serve " + configv1.GroupVersion.String(), nil
	case err != nil:
		return gatewaytenant.ClusterDNS{}, "", fmt.Errorf("discovering %s: %w", configv1.GroupVersion, err)
	}
	return gatewaytenant.OpenShiftDNS, "OpenShift: the API server serves " + configv1.GroupVersion.String(), nil
}
