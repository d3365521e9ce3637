package manager

import (
	"net/http"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/gatewaytenant"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/proxystate"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/refcache"
)

// lastAppliedAnnotation is where kubectl apply keeps a second copy of the whole object.
const lastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// cacheOptions keep the manager's cache to what the operator reads, so that memory follows the
// number of tenants and not the size of the cluster:
//
//   - of the kinds it creates, only the objects it created (by label), ConfigMaps included
//     (their metadata: the proxy's configuration; the ConfigMaps tenants reference are in the
//     cache of referencedConfigMapOptions);
//   - of every cached object, neither managedFields nor kubectl's last-applied annotation,
//     which together are often larger than the object;
//   - of Services it does not own (all Services: upstreams may be any), only what the checks
//     read: selector, ports and type;
//   - of ClusterTrustBundles (metadata only: cluster-scoped), only name, UID,
//     resourceVersion and labels (selectors match them);
//   - of Secrets, nothing: the operator reads no Secret (the kubelet mounts them into the
//     proxy, which reports on them);
//   - of EndpointSlices (cluster-wide: ready endpoints of plain upstreams, the proxy pods to
//     read), what proxystate.StripEndpointSlice keeps;
//   - of PodMonitors, when their CRD exists, only the operator's own;
//   - of BackendTLSPolicies, when their CRD exists, what trimBackendTLSPolicy keeps;
//   - of Services and EndpointSlices, watched cluster-wide because tenants may reference any,
//     only the objects the operator owns or a tenant references (internal/refcache): memory
//     follows the tenants, not the cluster.
func cacheOptions(podMonitors, backendTLSPolicies bool, scheme *runtime.Scheme, tenants *gatewaytenant.References) cache.Options {
	owned := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})}
	o := cache.Options{
		DefaultTransform: stripBookkeeping,
		ByObject: map[client.Object]cache.ByObject{
			&networkingv1.NetworkPolicy{}:        owned,
			&appsv1.Deployment{}:                 owned,
			&corev1.ServiceAccount{}:             owned,
			&policyv1.PodDisruptionBudget{}:      owned,
			&corev1.Service{}:                    {Transform: trimService},
			&corev1.ConfigMap{}:                  {Label: owned.Label, Transform: trimReferenced},
			&certificatesv1.ClusterTrustBundle{}: {Transform: trimTrustBundle},
			// Every EndpointSlice (plain upstreams' Services are the tenants', not labelled by
			// the operator): only each endpoint's first address, readiness and pod.
			&discoveryv1.EndpointSlice{}: {Transform: proxystate.StripEndpointSlice},
		},
	}
	if podMonitors { // only when the CRD exists: the cache maps every kind it names
		o.ByObject[&monitoringv1.PodMonitor{}] = owned
	}
	if backendTLSPolicies { // likewise
		o.ByObject[&gwapiv1.BackendTLSPolicy{}] = cache.ByObject{Transform: trimBackendTLSPolicy}
	}
	o.NewInformer = refcache.NewInformerFunc(scheme, filtered(tenants))
	return o
}

// filtered are the kinds whose cache keeps only what the operator owns or tenants reference,
// with the filter that says which.
func filtered(tenants *gatewaytenant.References) map[schema.GroupKind]refcache.Filter {
	return map[schema.GroupKind]refcache.Filter{
		{Kind: "Service"}: tenants.Services(),
		{Group: discoveryv1.GroupName, Kind: "EndpointSlice"}: tenants.EndpointSlices(),
	}
}

// configMapKind is the kind of referencedConfigMapOptions' cache.
var configMapKind = schema.GroupKind{Kind: "ConfigMap"}

// referencedConfigMapOptions are those of a second cache, for the metadata of the ConfigMaps
// certificate references name: watched cluster-wide (a reference may name any in the
// tenant's namespace), it keeps only those tenants reference (internal/refcache), and of them
// name, UID, resourceVersion and owners. It is a cache of its own so that it can start late:
// the tenant controller starts its watch when a reconcile first reads such a ConfigMap
// (controllers/gatewaytenant/lazywatch.go), and does not wait for it at start. A cluster's
// ConfigMaps are often its largest objects by metadata alone (kubectl's last-applied copy of
// their data); beside 4,000 unrelated namespaces their initial watch was most of what the
// noise added to a cold start (docs/benchmarks.md).
func referencedConfigMapOptions(scheme *runtime.Scheme, mapper meta.RESTMapper, httpClient *http.Client, tenants *gatewaytenant.References) cache.Options {
	return cache.Options{
		Scheme: scheme, Mapper: mapper, HTTPClient: httpClient,
		DefaultTransform: stripBookkeeping,
		ByObject:         map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {Transform: trimReferenced}},
		NewInformer:      refcache.NewInformerFunc(scheme, map[schema.GroupKind]refcache.Filter{configMapKind: tenants.ConfigMaps()}),
	}
}

// trimBackendTLSPolicy keeps the operator's own BackendTLSPolicies (by label) whole but for
// bookkeeping: it compares their specs and reads the implementations' status.ancestors. Of
// every other one, cluster-wide, it keeps only what the check for a policy taking precedence
// on a tenant's Service port reads: identity, creation time, owners and the targetRefs that
// name Services. Their status (up to 16 ancestors of 8 conditions each), options and
// validation are dropped, so memory does not grow with other people's policies.
func trimBackendTLSPolicy(in any) (any, error) {
	p, ok := in.(*gwapiv1.BackendTLSPolicy)
	if !ok {
		return stripBookkeeping(in)
	}
	stripMeta(p)
	if p.Labels[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue {
		return p, nil
	}
	out := &gwapiv1.BackendTLSPolicy{TypeMeta: p.TypeMeta, ObjectMeta: identity(p, false)}
	for _, t := range p.Spec.TargetRefs {
		if t.Group == "" && t.Kind == "Service" {
			out.Spec.TargetRefs = append(out.Spec.TargetRefs, t)
		}
	}
	return out, nil
}

// stripBookkeeping drops managedFields and the last-applied annotation. The operator never
// reads either; updates it sends from the cache leave managedFields as they are (the API server
// keeps them when an update omits them).
func stripBookkeeping(in any) (any, error) {
	if o, ok := in.(metav1.Object); ok {
		stripMeta(o)
	}
	return in, nil
}

func stripMeta(o metav1.Object) {
	if o.GetManagedFields() != nil {
		o.SetManagedFields(nil)
	}
	if ann := o.GetAnnotations(); ann != nil {
		if _, ok := ann[lastAppliedAnnotation]; ok {
			delete(ann, lastAppliedAnnotation)
			if len(ann) == 0 {
				o.SetAnnotations(nil)
			}
		}
	}
}

// trimService keeps of a Service the operator does not own what the upstream checks read and
// what a write would need to stay safe (identity, version, owners, labels, annotations). The
// operator's own proxy Services stay whole but for bookkeeping: it compares their specs.
func trimService(in any) (any, error) {
	svc, ok := in.(*corev1.Service)
	if !ok {
		return stripBookkeeping(in)
	}
	stripMeta(svc)
	if svc.Labels[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue {
		return svc, nil
	}
	return &corev1.Service{
		TypeMeta:   svc.TypeMeta,
		ObjectMeta: identity(svc, true),
		Spec:       corev1.ServiceSpec{Type: svc.Spec.Type, ExternalName: svc.Spec.ExternalName, Selector: svc.Spec.Selector, Ports: svc.Spec.Ports},
	}, nil
}

// trimReferenced keeps of a ConfigMap's metadata what the mapping to tenants and the
// certificate cache read: name, UID, resourceVersion and owners (and of the operator's own,
// labels and annotations).
func trimReferenced(in any) (any, error) {
	o, ok := in.(*metav1.PartialObjectMetadata)
	if !ok {
		return stripBookkeeping(in)
	}
	// The operator's own (the proxy's configuration) keep their labels and annotations: the
	// last good upstreams are recorded in an annotation.
	own := o.Labels[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue
	return &metav1.PartialObjectMetadata{TypeMeta: o.TypeMeta, ObjectMeta: identity(o, own)}, nil
}

// trimTrustBundle keeps of a ClusterTrustBundle's metadata what the mapping to tenants and
// the certificate cache read: name, UID, resourceVersion, and labels, which selectors match.
func trimTrustBundle(in any) (any, error) {
	o, ok := in.(*metav1.PartialObjectMetadata)
	if !ok {
		return stripBookkeeping(in)
	}
	m := identity(o, false)
	m.Labels = o.Labels
	return &metav1.PartialObjectMetadata{TypeMeta: o.TypeMeta, ObjectMeta: m}, nil
}

// identity is the part of an object's metadata that names it, versions it and says who owns
// it; withLabels adds its labels and annotations.
func identity(o metav1.Object, withLabels bool) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name: o.GetName(), Namespace: o.GetNamespace(), UID: o.GetUID(), ResourceVersion: o.GetResourceVersion(),
		Generation: o.GetGeneration(), OwnerReferences: o.GetOwnerReferences(), DeletionTimestamp: o.GetDeletionTimestamp(),
		CreationTimestamp: metav1.Time{Time: o.GetCreationTimestamp().Time},
	}
	if withLabels {
		m.Labels, m.Annotations = o.GetLabels(), o.GetAnnotations()
	}
	return m
}
