package gatewaytenant

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// DefaultProxyResources are the proxy container's resources unless the platform or the
// tenant says otherwise. An idle proxy with one upstream holds about 14 MiB resident
// (measured: docs/install.md, "Sizing the proxies"); the 64Mi request leaves room for pooled
// upstream connections and buffers under load, the limits for bursts.
func DefaultProxyResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
}

// Validate says why the settings' defaults are not within their own maximums: a tenant that
// sets nothing would get more than a tenant may ask for. The manager refuses to start then.
func (s ProxySettings) Validate() error {
	if s.MaxReplicas > 0 && s.Replicas > s.MaxReplicas {
		return fmt.Errorf("the default replicas %d are above the maximum %d; lower the default or raise the maximum", s.Replicas, s.MaxReplicas)
	}
	res := proxyResources(s)
	for _, kind := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", res.Requests}, {"limits", res.Limits}} {
		for _, name := range sortedNames(kind.list) {
			v := kind.list[name]
			if m, ok := s.MaxResources[name]; ok && v.Cmp(m) > 0 {
				return fmt.Errorf("the default %s.%s %s is above the maximum %s=%s; lower the default or raise the maximum",
					kind.name, name, v.String(), name, m.String())
			}
		}
	}
	return requestsWithinLimits(res, "the default")
}

// requestsWithinLimits says which request of res is above its limit; what names whose.
func requestsWithinLimits(res corev1.ResourceRequirements, what string) error {
	for _, name := range sortedNames(res.Requests) {
		req := res.Requests[name]
		if limit, ok := res.Limits[name]; ok && req.Cmp(limit) > 0 {
			return fmt.Errorf("%s %s request %s is above its limit %s", what, name, req.String(), limit.String())
		}
	}
	return nil
}

// proxySize is the replicas and resources of one tenant's proxy.
type proxySize struct {
	replicas  int32
	resources corev1.ResourceRequirements
}

// sizeFor is the tenant's proxy size: its spec.proxy over the platform's defaults, or an
// error naming the field that exceeds the platform's bounds.
func (s ProxySettings) sizeFor(tenant *v1alpha1.GatewayTenant) (proxySize, error) {
	size := proxySize{replicas: s.Replicas, resources: s.Resources}
	if len(size.resources.Requests) == 0 && len(size.resources.Limits) == 0 {
		size.resources = DefaultProxyResources()
	}
	size.resources = *size.resources.DeepCopy()
	want := tenant.Spec.Proxy
	if want == nil {
		return size, nil
	}
	if want.Replicas != nil {
		size.replicas = *want.Replicas
		if s.MaxReplicas > 0 && size.replicas > s.MaxReplicas {
			return size, fmt.Errorf("spec.proxy.replicas: %d is above the platform's maximum of %d", size.replicas, s.MaxReplicas)
		}
	}
	if r := want.Resources; r != nil {
		if err := overlay(&size.resources.Requests, r.Requests, s.MaxResources, "requests"); err != nil {
			return size, err
		}
		if err := overlay(&size.resources.Limits, r.Limits, s.MaxResources, "limits"); err != nil {
			return size, err
		}
	}
	return size, requestsWithinLimits(size.resources, "spec.proxy.resources: the")
}

// overlay sets the tenant's values into list, refusing any above the platform's maximum.
func overlay(list *corev1.ResourceList, tenant, maxima corev1.ResourceList, field string) error {
	for _, name := range sortedNames(tenant) {
		v := tenant[name]
		if m, ok := maxima[name]; ok && v.Cmp(m) > 0 {
			return fmt.Errorf("spec.proxy.resources.%s.%s: %s is above the platform's maximum of %s", field, name, v.String(), m.String())
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = v
	}
	return nil
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// storedSize is the size of the proxy as it runs (dep, as read; nil when there is none), for
// a tenant whose new size is refused: the proxy keeps it. fallback when there is no proxy yet.
func storedSize(dep *appsv1.Deployment, fallback proxySize) proxySize {
	if dep == nil {
		return fallback
	}
	size := fallback
	if dep.Spec.Replicas != nil {
		size.replicas = *dep.Spec.Replicas
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == componentProxy {
			size.resources = *c.Resources.DeepCopy()
		}
	}
	return size
}
